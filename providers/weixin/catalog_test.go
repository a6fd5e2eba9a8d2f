package weixin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/internal/vectors"
)

func TestCatalogRows(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Catalog {
		for _, n := range append([]string{a.Name}, a.Aliases...) {
			if seen[n] {
				t.Errorf("%s listed twice", n)
			}
			seen[n] = true
		}
		if a.Kind == KindCall || a.Kind == KindCode2Session {
			if a.Method != "GET" && a.Method != "POST" {
				t.Errorf("%s: method %q", a.Name, a.Method)
			}
			if !strings.HasPrefix(a.Path, "/") {
				t.Errorf("%s: path %q", a.Name, a.Path)
			}
		}
		if a.Kind == KindCall && a.Path != "" && a.Token == TokenNone {
			t.Errorf("%s: a provider call without a token", a.Name)
		}
		for _, p := range a.Params {
			if strings.ToLower(p.Name) != p.Name {
				t.Errorf("%s: parameter %q is not in the provider's spelling", a.Name, p.Name)
			}
		}
	}
	// Every API of SPEC §2 (both seeds).
	want := []string{
		"auth.code2Session", "auth.getOpenid", "auth.getAccessToken", "auth.getPaidUnionId",
		"analysis.getDailyRetain", "analysis.getMonthlyRetain", "analysis.getWeeklyRetain",
		"analysis.getDailySummary", "analysis.getDailyVisitTrend", "analysis.getMonthlyVisitTrend",
		"analysis.getWeeklyVisitTrend", "analysis.getUserPortrait", "analysis.getVisitDistribution",
		"analysis.getVisitPage",
		"customerServiceMessage.getTempMedia", "customerServiceMessage.send",
		"customerServiceMessage.setTyping", "customerServiceMessage.uploadTempMedia",
		"wxacode.createQRCode", "wxacode.get", "wxacode.getUnlimited",
		"img.aiCrop", "img.scanQRCode", "img.superresolution",
		"decrypt.getPhoneNumber", "phoneNumber.getPhoneNumber",
		"urlscheme.generate", "urllink.generate", "security.msgSecCheck", "security.imgSecCheck",
		"subscribeMessage.send", "uniformMessage.send", "h5.templateMessage.send",
		"livebroadcast.getLiveInfo", "request",
		"h5.jssdk.getConfig", // SPEC §2b
		"h5.oauth.code2Session", "h5.oauth.getUserInfo", "app.oauth.code2Session", "app.oauth.getUserInfo",
		"web.oauth.code2Session", "web.oauth.getUserInfo",
	}
	for _, n := range want {
		if !seen[n] {
			t.Errorf("catalog lacks %s", n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("catalog has %d names, SPEC lists %d", len(seen), len(want))
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"auth.code2Session", "auth/code2Session", "/auth/code2Session", "auth/getOpenid", "h5/templateMessage/send", "h5.templateMessage/send"} {
		if _, ok := Lookup(name); !ok {
			t.Errorf("Lookup(%q) failed", name)
		}
	}
	a, _ := Lookup("auth/getOpenid")
	if a.Name != "auth.code2Session" {
		t.Errorf("alias resolves to %s", a.Name)
	}
	for _, name := range []string{"", "auth", "auth.code2session", "auth.code2Session.x"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) found something", name)
		}
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustLookup(t *testing.T, name string) *API {
	t.Helper()
	a, ok := Lookup(name)
	if !ok {
		t.Fatal(name)
	}
	return a
}

func TestPrepareParams(t *testing.T) {
	cc := &CallContext{AppID: "wxapp", H5AppID: "wxoa"}
	cases := []struct {
		api, in, want, err string
	}{
		{"auth.code2Session", `{"code":"c"}`, `{"js_code":"c"}`, ""},
		{"auth.code2Session", `{"jsCode":"c"}`, `{"js_code":"c"}`, ""},
		{"auth.code2Session", `{"js_code":"c","appId":"x","secret":"s","accessToken":"t"}`, `{"js_code":"c"}`, ""},
		{"auth.code2Session", `{}`, "", "missing required parameter: code"},
		{"analysis.getDailyRetain", `{"beginDate":"20240101","endDate":"20240102"}`, `{"begin_date":"20240101","end_date":"20240102"}`, ""},
		{"analysis.getDailyRetain", `{"beginDate":20240101,"endDate":"20240102"}`, "", "parameter must be a string: beginDate"},
		{"wxacode.getUnlimited", `{"scene":"a","lineColor":{"r":1},"isHyaline":true}`, `{"scene":"a","line_color":{"r":1},"is_hyaline":true}`, ""},
		{"wxacode.get", `{"path":"p","width":"430"}`, "", "parameter must be a number: width"},
		{"customerServiceMessage.send", `{"touser":"o","msgtype":"miniprogrampage","miniprogrampage":{"title":"t","pagePath":"p","thumbMediaId":"m"}}`,
			`{"touser":"o","msgtype":"miniprogrampage","miniprogrampage":{"title":"t","pagepath":"p","thumb_media_id":"m"}}`, ""},
		{"subscribeMessage.send", `{"toUser":"o","templateId":"t","data":{"thing1":{"value":"v"},"phraseTwo":{"value":"w"}}}`,
			`{"touser":"o","template_id":"t","data":{"thing1":{"value":"v"},"phraseTwo":{"value":"w"}}}`, ""},
		{"livebroadcast.getLiveInfo", `{"pageIndex":3,"pageSize":20}`, `{"start":40,"limit":20}`, ""},
		{"livebroadcast.getLiveInfo", `{}`, `{"start":0,"limit":10}`, ""},
		{"livebroadcast.getLiveInfo", `{"pageSize":1000}`, "", "pageSize"},
		{"uniformMessage.send", `{"touser":"o","templateId":"t","url":"u","data":{"k":{"value":"v"}}}`,
			`{"touser":"o","mp_template_msg":{"appid":"wxoa","template_id":"t","url":"u","data":{"k":{"value":"v"}}}}`, ""},
		{"uniformMessage.send", `{"touser":"o","templateAppid":"wxother","templateId":"t","data":{}}`,
			`{"touser":"o","mp_template_msg":{"appid":"wxother","template_id":"t","data":{}}}`, ""},
		{"uniformMessage.send", `{"touser":"o","data":{}}`, "", "templateId"},
		{"uniformMessage.send", `{"touser":"o","mpTemplateMsg":{"appid":"wxother","templateId":"t","data":{"keyWord1":{"value":"k"}}}}`,
			`{"touser":"o","mp_template_msg":{"appid":"wxother","template_id":"t","data":{"keyWord1":{"value":"k"}}}}`, ""},
		{"uniformMessage.send", `{"touser":"o","mpTemplateMsg":{"templateId":"t","data":{"k":{"value":"v"}}}}`,
			`{"touser":"o","mp_template_msg":{"appid":"wxoa","template_id":"t","data":{"k":{"value":"v"}}}}`, ""},
	}
	for _, c := range cases {
		t.Run(c.api, func(t *testing.T) {
			got, err := mustLookup(t, c.api).PrepareParams(decode(t, c.in), cc)
			if c.err != "" {
				var pe *ParamError
				if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(decode(t, c.want))
			if string(gb) != string(wb) {
				t.Fatalf("got %s, want %s", gb, wb)
			}
		})
	}
}

// vectorFile reads the published vectors.json.
func vectorFile(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal(vectors.Read(t, "vectors.json"), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecryptPhoneNumberOfficialVector(t *testing.T) {
	var v struct {
		AppID         string          `json:"appId"`
		SessionKey    string          `json:"sessionKey"`
		IV            string          `json:"iv"`
		EncryptedData string          `json:"encryptedData"`
		Plaintext     json.RawMessage `json:"plaintext"`
	}
	if err := json.Unmarshal(vectorFile(t)["miniprogram_encrypted_data"], &v); err != nil {
		t.Fatal(err)
	}
	plain, err := DecryptPhoneNumber(v.AppID, v.SessionKey, v.EncryptedData, v.IV)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	_ = json.Unmarshal(plain, &got)
	wantRaw := []byte(v.Plaintext)
	var s string
	if json.Unmarshal(wantRaw, &s) == nil {
		wantRaw = []byte(s)
	}
	_ = json.Unmarshal(wantRaw, &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("decrypted %s, want %s", gb, wb)
	}
	// The watermark names another app: refused.
	if _, err := DecryptPhoneNumber("wx-other", v.SessionKey, v.EncryptedData, v.IV); !errors.Is(err, ErrWatermark) {
		t.Fatalf("other app: %v, want ErrWatermark", err)
	}
	// A wrong session key does not decrypt.
	if _, err := DecryptPhoneNumber(v.AppID, "AAAAAAAAAAAAAAAAAAAAAA==", v.EncryptedData, v.IV); err == nil {
		t.Fatal("decrypted with a wrong session key")
	}
}

func TestPrepareParamsFromQuery(t *testing.T) {
	cc := &CallContext{AppID: "wxapp", FromQuery: true}
	in := map[string]any{"path": "p", "isExpire": "true", "expireInterval": "30", "envVersion": "develop"}
	out, err := mustLookup(t, "urllink.generate").PrepareParams(in, cc)
	if err != nil {
		t.Fatal(err)
	}
	if out["is_expire"] != true || out["expire_interval"] != json.Number("30") || out["env_version"] != "develop" {
		t.Fatalf("query values not read as their documented types: %v", out)
	}
	out, err = mustLookup(t, "livebroadcast.getLiveInfo").PrepareParams(map[string]any{"pageIndex": "2", "pageSize": "10"}, cc)
	if err != nil || out["start"] != int64(10) || out["limit"] != int64(10) {
		t.Fatalf("paging from a query: %v %v", out, err)
	}
	for _, bad := range []string{"NaN", "Inf", "0x10", "ten", ""} {
		if _, err := mustLookup(t, "wxacode.get").PrepareParams(map[string]any{"path": "p", "width": bad}, cc); err == nil && bad != "" {
			t.Errorf("width %q accepted", bad)
		}
	}
}

// A provider answer nested far deeper than any real one is refused, not
// followed down (a recursive check would exhaust the stack and stop the
// whole process).
func TestDeeplyNestedAnswer(t *testing.T) {
	deep := "{\"a\":" + strings.Repeat("[", 3_000_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, deep)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, HTTP: srv.Client()}
	_, err := c.Do(context.Background(), &Request{API: mustLookup(t, "urllink.generate"), Params: map[string]any{}, Token: "t"})
	var ue *UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("deeply nested answer: %v", err)
	}
}

func TestUploadContentTypeCannotAddHeaders(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","media_id":"m"}`)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, HTTP: srv.Client()}
	png := []byte("\x89PNG\r\n\x1a\n rest")
	_, err := c.Do(context.Background(), &Request{
		API: mustLookup(t, "customerServiceMessage.uploadTempMedia"), Params: map[string]any{"type": "image"}, Token: "t",
		Upload: &Upload{ContentType: "image/png\r\nInjected-Header: yes\r\n\r\nPREPENDED", Data: png},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "Injected-Header") || strings.Contains(got, "PREPENDED") || !strings.Contains(got, "Content-Type: image/png") {
		t.Fatalf("multipart body sent:\n%s", got)
	}
}

// A missing or mistyped parameter is named the way the caller writes it
// (camelCase, with the seeds' spellings), never in the provider's dialect.
func TestParamErrorsUseCallerSpelling(t *testing.T) {
	cc := &CallContext{AppID: "wxapp", H5AppID: "wxoa"}
	for _, c := range []struct{ api, in, want string }{
		{"subscribeMessage.send", `{"templateId":"t","data":{}}`, "missing required parameter: toUser"},
		{"subscribeMessage.send", `{"toUser":"o","data":{}}`, "missing required parameter: templateId"},
		{"subscribeMessage.send", `{"toUser":1,"templateId":"t","data":{}}`, "parameter must be a string: toUser"},
		{"customerServiceMessage.send", `{"toUser":"o"}`, "missing required parameter: msgType"},
		{"customerServiceMessage.setTyping", `{"command":"Typing"}`, "missing required parameter: toUser"},
		{"h5.templateMessage.send", `{"templateId":"t","data":{}}`, "missing required parameter: toUser"},
		{"uniformMessage.send", `{"toUser":"o","templateId":"t"}`, "missing required parameter: data"},
		{"decrypt.getPhoneNumber", `{"iv":"x"}`, "missing required parameter: encryptedData"},
		{"analysis.getDailyRetain", `{"beginDate":"20240101"}`, "missing required parameter: endDate"},
		{"auth.code2Session", `{}`, "missing required parameter: code"},
		{"auth.getPaidUnionId", `{}`, "missing required parameter: openid"},
	} {
		t.Run(c.want, func(t *testing.T) {
			_, err := mustLookup(t, c.api).PrepareParams(decode(t, c.in), cc)
			if err == nil || err.Error() != c.want {
				t.Fatalf("%s %s: err %v, want %q", c.api, c.in, err, c.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"wxacode.getUnlimted", "wxacode.getUnlimited"},
		{"wxacode/getUnlimted", "wxacode.getUnlimited"},
		{"wxacode.getunlimited", "wxacode.getUnlimited"},
		{"auth.code2session", "auth.code2Session"},
		{"auth.getOpenId", "auth.getOpenid"},
		{"subscribeMessage.sned", "subscribeMessage.send"},
		{"security.msgSecChek", "security.msgSecCheck"},
		{"analysis.getDailyRetian", "analysis.getDailyRetain"},
		{"requset", "request"},
		{"", ""},
		{"x", ""},
		{"payment.refund", ""},
		{"totally.unrelated.name", ""},
	} {
		got, ok := Suggest(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Suggest(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

// Names far from every catalog name, of any length, suggest nothing (and a
// long one costs no distance computation).
func TestSuggestNothingNear(t *testing.T) {
	for _, in := range []string{"all", "a.b", "zz", strings.Repeat("x", 1<<16), "nothing.here.at.all"} {
		if got, ok := Suggest(in); ok {
			t.Errorf("Suggest(%.20q) = %q", in, got)
		}
	}
}
