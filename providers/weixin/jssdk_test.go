package weixin

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type jssdkVector struct {
	Name      string `json:"name"`
	Ticket    string `json:"jsapi_ticket"`
	Nonce     string `json:"noncestr"`
	Timestamp int64  `json:"timestamp"`
	URL       string `json:"url"`
	Signature string `json:"signature"`
}

// The signature of WeChat's published example (JS-SDK appendix 1), with
// the url taken through JSSDKURL as a caller's location.href is.
func TestJSSDKSignatureVectors(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/weixin_jssdk/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []jssdkVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || len(file.Vectors) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range file.Vectors {
		u, err := JSSDKURL(v.URL)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got := JSSDKSignature(v.Ticket, v.Nonce, v.Timestamp, u); got != v.Signature {
			t.Errorf("%s: signature %s, want %s", v.Name, got, v.Signature)
		}
	}
}

// The url is signed exactly as given, without its fragment; anything but an
// absolute http(s) URL with a host is refused.
func TestJSSDKURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://h5.example.com/pay?x=%E4%B8%AD&y=1#/pages/a?b=c": "https://h5.example.com/pay?x=%E4%B8%AD&y=1",
		"http://mp.weixin.qq.com?params=value":                    "http://mp.weixin.qq.com?params=value",
		"HTTPS://Example.com:8443/A/../b/":                        "HTTPS://Example.com:8443/A/../b/",
		"https://example.com/#":                                   "https://example.com/",
	} {
		if got, err := JSSDKURL(in); err != nil || got != want {
			t.Errorf("JSSDKURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/pages/index", "example.com/a", "ftp://example.com/", "javascript:alert(1)",
		"https:///nohost", "https://exa mple.com/", "mailto:a@example.com", "#https://example.com"} {
		if got, err := JSSDKURL(in); err == nil {
			t.Errorf("JSSDKURL(%q) = %q, want an error", in, got)
		}
	}
}

// Every nonce is 16 letters and digits, and two are not the same.
func TestNewNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if a == b {
		t.Fatalf("two equal nonces %q", a)
	}
	for _, n := range []string{a, b} {
		if len(n) != 16 || strings.Trim(n, nonceAlphabet) != "" {
			t.Fatalf("nonce %q", n)
		}
	}
}

func BenchmarkJSSDKSignature(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = JSSDKSignature("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
			"Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
	}
}
