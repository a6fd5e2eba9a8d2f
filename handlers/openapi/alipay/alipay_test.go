package alipay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

func TestValidate(t *testing.T) {
	ok := Alipay{AppID: "2021", PrivateKey: "k", AlipayPublicKey: "p", KeyType: "PKCS8", Endpoint: alipay.DefaultEndpoint}
	for name, tc := range map[string]struct {
		edit func(*Alipay)
		want string
	}{
		"ok":             {func(*Alipay) {}, ""},
		"no app_id":      {func(a *Alipay) { a.AppID = "" }, "app_id, private_key and alipay_public_key (or app_cert, alipay_cert and alipay_root_cert) are required"},
		"no public key":  {func(a *Alipay) { a.AlipayPublicKey = "" }, "app_id, private_key and alipay_public_key (or app_cert, alipay_cert and alipay_root_cert) are required"},
		"bad key_type":   {func(a *Alipay) { a.KeyType = "PEM" }, `key_type must be PKCS8 or PKCS1, not "PEM"`},
		"bad endpoint":   {func(a *Alipay) { a.Endpoint = "ftp://x" }, "endpoint must be an absolute http(s) URL"},
		"relative endpt": {func(a *Alipay) { a.Endpoint = "/gateway.do" }, "endpoint must be an absolute http(s) URL"},
	} {
		t.Run(name, func(t *testing.T) {
			a := ok
			tc.edit(&a)
			err := a.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// Alipay's failures become the documented answers; a signature that does
// not verify is never an ordinary upstream error.
func TestCallError(t *testing.T) {
	for name, tc := range map[string]struct {
		err    error
		status int
		code   string
	}{
		"bad signature": {&alipay.SignatureError{Provider: "alipay", Err: errors.New("verification error")}, 502, handlers.ErrUpstreamBadSignature},
		"wrapped":       {fmt.Errorf("call: %w", &alipay.SignatureError{Provider: "alipay", Err: errors.New("x")}), 502, handlers.ErrUpstreamBadSignature},
		"timeout":       {&alipay.UpstreamError{Reason: "Alipay did not answer in time", Timeout: true}, 504, handlers.ErrUpstreamTimeout},
		"unreachable":   {&alipay.UpstreamError{Reason: "HTTP 502 from the gateway"}, 502, handlers.ErrUpstream},
		"deadline":      {context.DeadlineExceeded, 504, handlers.ErrUpstreamTimeout},
		"anything else": {errors.New("boom"), 502, handlers.ErrUpstream},
	} {
		t.Run(name, func(t *testing.T) {
			var ge *handlers.Error
			if !errors.As(callError(tc.err), &ge) || ge.Status != tc.status || ge.Code != tc.code {
				t.Fatalf("callError = %v, want %d %s", ge, tc.status, tc.code)
			}
		})
	}
}

// The code is read from the query (GET) or the body (POST), under any of
// its names; none is a 400 naming code, before Alipay is called.
func TestParamsAndCode(t *testing.T) {
	for name, tc := range map[string]struct {
		r    *http.Request
		want string
	}{
		"body code":       {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"code":"c1"}`)), "c1"},
		"body auth_code":  {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"auth_code":"c2"}`)), "c2"},
		"body jsCode":     {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"jsCode":"c3"}`)), "c3"},
		"number":          {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"code":123}`)), "123"},
		"query":           {httptest.NewRequest("GET", "/auth/code2Session?auth_code=c4", nil), "c4"},
		"empty code":      {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"code":"","jsCode":"c5"}`)), "c5"},
		"none":            {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{}`)), ""},
		"not a string":    {httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"code":["c"]}`)), ""},
		"GET body unread": {httptest.NewRequest("GET", "/auth/code2Session", strings.NewReader(`{"code":"c6"}`)), ""},
	} {
		t.Run(name, func(t *testing.T) {
			in, err := params(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := firstString(in, "code", "authCode", "jsCode"); got != tc.want {
				t.Fatalf("code %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := params(httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`[1]`))); err == nil {
		t.Fatal("a body that is not an object was read")
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want string // error
	}{
		"full":          {"alipay {\napp_id 2021\nprivate_key {file./k.pem}\nkey_type PKCS1\nalipay_public_key {file./p.pem}\nendpoint http://127.0.0.1:9/gateway.do\nsandbox\n}", ""},
		"weixin's":      {"alipay {\nsecret s\n}", `unknown subdirective "secret"`},
		"twice":         {"alipay {\napp_id a\napp_id b\n}", "app_id is given twice"},
		"sandbox arg":   {"alipay {\nsandbox yes\n}", "wrong argument count"},
		"missing value": {"alipay {\napp_id\n}", "wrong argument count"},
	} {
		t.Run(name, func(t *testing.T) {
			var a Alipay
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if name == "full" && (a.AppID != "2021" || a.KeyType != "PKCS1" || !a.Sandbox || a.Endpoint != "http://127.0.0.1:9/gateway.do") {
				t.Fatalf("parsed %+v", a)
			}
		})
	}
}
