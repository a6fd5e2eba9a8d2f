package unicloud

// Acceptance checks of `unicloud_openapi weixin` (§2), continued: the
// session key kept server-side, app selection, the gateway's own errors,
// allow/allow_raw, binary answers and uploads, and the token rules.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// qawPNG is a small PNG image.
var qawPNG = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}()

func qawB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// qawMultipart is a multipart/form-data body with one file field.
func qawMultipart(field string, file []byte, fields ...string) (string, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile(field, "a.png")
	_, _ = fw.Write(file)
	_ = mw.Close()
	return mw.FormDataContentType(), buf.String()
}

// TestQawSessionKeyKeptServerSide: code2Session answers without sessionKey
// (unless expose_session_key); the key is kept by appid + openid, so
// decrypt.getPhoneNumber works with openid alone, locally, for that app
// only; with expose_session_key the sessionKey is WeChat's and decrypts
// too; the watermark's appid is checked.
func TestQawSessionKeyKeptServerSide(t *testing.T) {
	g := qawStart(t)
	openid := g.login(t, "/wx/", "qawphone.1")
	e := g.proxy.last(t, "/sns/jscode2session")
	key := qaJSONField(e.RespBody, "session_key")
	if key == "" {
		t.Fatalf("the emulator gave no session_key: %s", e.RespBody)
	}
	status, ph, raw := g.hook(t, http.MethodGet, "/_emulator/weixin/phone?appid="+qawApp+"&openid="+openid)
	if status != 200 || qaStr(ph, "encryptedData") == "" {
		t.Fatalf("phone hook: %d %s", status, raw)
	}
	for _, name := range []string{"decrypt/getPhoneNumber", "decrypt.getPhoneNumber"} {
		before := g.proxy.count("")
		status, m, raw := g.post(t, "/wx/"+name, qaJSON(map[string]any{"openid": openid, "encryptedData": ph["encryptedData"], "iv": ph["iv"]}))
		if qaWant(t, name+" with openid", status, m, raw, 200, 0) {
			if qaStr(m, "errMsg") != "ok" || qaStr(m, "phoneNumber") != qaStr(ph, "phoneNumber") || qaStr(m, "purePhoneNumber") == "" || qaStr(m, "countryCode") == "" {
				t.Errorf("%s answer %s, want phoneNumber %s, purePhoneNumber, countryCode", name, raw, ph["phoneNumber"])
			}
			if qaJSONField(raw, "watermark", "appId") != qawApp {
				t.Errorf("%s: watermark %s, want appId %s", name, qaJSONField(raw, "watermark"), qawApp)
			}
		}
		if n := g.proxy.count("") - before; n != 0 {
			t.Errorf("%s made %d provider calls, want a local decryption", name, n)
		}
	}

	// The key is the app's: the second app's user is not found under the
	// default app, and is under its own.
	openid2 := g.login(t, "/wx/", "qawphone2.1", "X-Unicloud-App-Id", qawApp2)
	_, ph2, raw := g.hook(t, http.MethodGet, "/_emulator/weixin/phone?appid="+qawApp2+"&openid="+openid2)
	if qaStr(ph2, "encryptedData") == "" {
		t.Fatalf("phone hook for the second app: %s", raw)
	}
	body2 := map[string]any{"openid": openid2, "encryptedData": ph2["encryptedData"], "iv": ph2["iv"]}
	status, m, raw := g.post(t, "/wx/decrypt/getPhoneNumber", qaJSON(body2))
	if (status == 200 && fmt.Sprint(m["errCode"]) == "0") || qaStr(m, "phoneNumber") != "" {
		t.Errorf("another app's openid decrypted under the default app: %d %s", status, raw)
	}
	body2["appId"] = qawApp2
	status, m, raw = g.post(t, "/wx/decrypt/getPhoneNumber", qaJSON(body2))
	if qaWant(t, "decrypt with the second app's openid and appId", status, m, raw, 200, 0) && qaStr(m, "phoneNumber") != qaStr(ph2, "phoneNumber") {
		t.Errorf("second app decrypt %s, want %s", raw, ph2["phoneNumber"])
	}
	// An openid that never logged in: refused, no phone number.
	status, m, raw = g.post(t, "/wx/decrypt/getPhoneNumber", qaJSON(map[string]any{"openid": "oQawNeverLoggedIn", "encryptedData": ph["encryptedData"], "iv": ph["iv"]}))
	if (status == 200 && fmt.Sprint(m["errCode"]) == "0") || qaStr(m, "phoneNumber") != "" {
		t.Errorf("unknown openid decrypted: %d %s", status, raw)
	}
	g.noSecrets(t)

	// expose_session_key: the answer has WeChat's session key, and it
	// decrypts.
	status, m, raw = qaPost(t, g.base+"/wxexp/auth/code2Session", `{"code":"qawexp.1"}`)
	if !qaWant(t, "code2Session with expose_session_key", status, m, raw, 200, 0) {
		return
	}
	if sk := qaJSONField(g.proxy.last(t, "/sns/jscode2session").RespBody, "session_key"); qaStr(m, "sessionKey") != sk || sk == "" {
		t.Errorf("sessionKey %q, want WeChat's %q", m["sessionKey"], sk)
	}
	if _, ok := m["session_key"]; ok {
		t.Errorf("answer has session_key: %s", raw)
	}
	_, phx, _ := g.hook(t, http.MethodGet, "/_emulator/weixin/phone?appid="+qawApp+"&openid="+qaStr(m, "openid"))
	status, d, raw := qaPost(t, g.base+"/wxexp/decrypt/getPhoneNumber", qaJSON(map[string]any{"sessionKey": m["sessionKey"], "encryptedData": phx["encryptedData"], "iv": phx["iv"]}))
	if qaWant(t, "decrypt with sessionKey", status, d, raw, 200, 0) && qaStr(d, "phoneNumber") != qaStr(phx, "phoneNumber") {
		t.Errorf("decrypt with sessionKey: %s, want %s", raw, phx["phoneNumber"])
	}
	// The second app's data, with its own session key, under the default
	// app: the watermark names another appid, so it is refused.
	status, m2, raw := qaPost(t, g.base+"/wxexp/auth/code2Session", `{"code":"qawexp2.1","appId":"`+qawApp2+`"}`)
	if !qaWant(t, "second app code2Session", status, m2, raw, 200, 0) {
		return
	}
	_, phy, _ := g.hook(t, http.MethodGet, "/_emulator/weixin/phone?appid="+qawApp2+"&openid="+qaStr(m2, "openid"))
	status, d, raw = qaPost(t, g.base+"/wxexp/decrypt/getPhoneNumber", qaJSON(map[string]any{"sessionKey": m2["sessionKey"], "encryptedData": phy["encryptedData"], "iv": phy["iv"]}))
	if (status == 200 && fmt.Sprint(d["errCode"]) == "0") || qaStr(d, "phoneNumber") != "" {
		t.Errorf("a watermark of %s accepted for %s: %d %s", qawApp2, qawApp, status, raw)
	}
}

// TestQawAppSelection: appId in the body or X-Unicloud-App-Id picks one of
// the configured apps (its appid, its secret, its own token); an appid
// that is not configured is refused with 400 UNICLOUD_APP_NOT_FOUND before
// any provider call; a caller's own accessToken is used for that call.
func TestQawAppSelection(t *testing.T) {
	g := qawStart(t)
	g.login(t, "/wx/", "qawsel.1", "X-Unicloud-App-Id", qawApp2)
	if e := g.proxy.last(t, "/sns/jscode2session"); e.Query.Get("appid") != qawApp2 || e.Query.Get("secret") != qawSecret2 {
		t.Errorf("header: code2Session sent appid %q secret %q, want the second app's", e.Query.Get("appid"), e.Query.Get("secret"))
	}
	status, m, raw := g.post(t, "/wx/auth/code2Session", `{"code":"qawsel.2","appId":"`+qawApp2+`"}`)
	if qaWant(t, "appId in the body", status, m, raw, 200, 0) {
		if e := g.proxy.last(t, "/sns/jscode2session"); e.Query.Get("appid") != qawApp2 || e.Query.Get("secret") != qawSecret2 {
			t.Errorf("body: code2Session sent appid %q, want %s", e.Query.Get("appid"), qawApp2)
		}
	}
	for _, how := range []string{"body", "header"} {
		body, hdr := `{"path":"pages/index/index","appId":"`+qawApp2+`"}`, []string(nil)
		if how == "header" {
			body, hdr = `{"path":"pages/index/index"}`, []string{"X-Unicloud-App-Id", qawApp2}
		}
		status, m, raw := g.post(t, "/wx/urllink/generate", body, hdr...)
		if !qaWant(t, "urllink.generate for the second app by "+how, status, m, raw, 200, 0) {
			continue
		}
		e := g.proxy.last(t, "/wxa/generate_urllink")
		if tok := qawTokenOf(g.proxy, qawApp2); tok == "" || e.Query.Get("access_token") != tok {
			t.Errorf("%s: the call used token %q, want the second app's %q", how, e.Query.Get("access_token"), tok)
		}
		if b := qawBody(t, e); b["path"] != "pages/index/index" {
			t.Errorf("%s: urllink body %s", how, e.ReqBody)
		}
	}
	if n := qawTokenFetches(g.proxy, qawApp2); n != 1 {
		t.Errorf("%d token fetches for the second app, want 1", n)
	}
	if n := qawTokenFetches(g.proxy, qawApp); n != 0 {
		t.Errorf("%d token fetches for the default app, which no call used", n)
	}

	// Unknown appids.
	before := g.proxy.count("")
	for _, c := range []struct {
		path, body string
		hdr        []string
	}{
		{"/wx/auth/code2Session", `{"code":"qawsel.3","appId":"wx-qaw-unknown"}`, nil},
		{"/wx/auth/code2Session", `{"code":"qawsel.4"}`, []string{"X-Unicloud-App-Id", "wx-qaw-unknown"}},
		{"/wx/urllink/generate", `{"path":"p","appId":"wx-qaw-unknown"}`, nil},
		{"/wx/urllink/generate", `{"path":"p"}`, []string{"X-Unicloud-App-Id", "wx-qaw-unknown"}},
		{"/wx/subscribeMessage/send", `{"toUser":"o","templateId":"t","data":{},"appId":"wx-qaw-unknown"}`, nil},
	} {
		status, m, raw := g.post(t, c.path, c.body, c.hdr...)
		if qaWant(t, "unknown appId "+c.path, status, m, raw, 400, "UNICLOUD_APP_NOT_FOUND") && qaStr(m, "errMsg") == "" {
			t.Errorf("no errMsg: %s", raw)
		}
	}
	if n := g.proxy.count("") - before; n != 0 {
		t.Errorf("%d provider calls for unknown appids", n)
	}

	// A caller's own token.
	before = g.proxy.count("/wxa/generate_urllink")
	status, _, raw = g.post(t, "/wx/urllink/generate", `{"path":"pages/index/index","accessToken":"qaw-callers-own-token"}`)
	calls := g.proxy.all("/wxa/generate_urllink")[before:]
	if status != 200 || len(calls) == 0 || calls[0].Query.Get("access_token") != "qaw-callers-own-token" {
		t.Errorf("caller's accessToken: %d %s; provider calls %d, first with the caller's token: %v", status, raw, len(calls), len(calls) > 0 && calls[0].Query.Get("access_token") == "qaw-callers-own-token")
	}
	for _, c := range calls {
		if bytes.Contains(c.ReqBody, []byte("accessToken")) || bytes.Contains(c.ReqBody, []byte(`"access_token"`)) {
			t.Errorf("the token went in the body: %s", c.ReqBody)
		}
	}
	g.noSecrets(t)
}

// TestQawGatewayErrors: the error table's caller mistakes, each answered
// by the gateway itself with the status and errCode the contract names, a
// non-empty errMsg (naming the parameter where one is at fault) and no
// provider call.
func TestQawGatewayErrors(t *testing.T) {
	g := qawStart(t)
	long := strings.Repeat("x", 2048)
	bigCT, bigBody := qawMultipart("media", bytes.Repeat([]byte("a"), 4096), "type", "image")
	cases := []struct {
		name, method, path, contentType, body string
		status                                int
		code, names                           string
	}{
		{"unknown API", "POST", "/wx/auth/noSuchThing", "application/json", `{}`, 404, "UNICLOUD_API_NOT_FOUND", ""},
		{"unknown API with dots", "POST", "/wx/qaw.nothing.here", "application/json", `{}`, 404, "UNICLOUD_API_NOT_FOUND", ""},
		{"unknown family", "POST", "/wx/nothing", "application/json", `{}`, 404, "UNICLOUD_API_NOT_FOUND", ""},
		{"unknown API by GET", "GET", "/wx/urllink/generateX?path=p", "", ``, 404, "UNICLOUD_API_NOT_FOUND", ""},
		{"truncated JSON", "POST", "/wx/urllink/generate", "application/json", `{"path":`, 400, "UNICLOUD_BAD_REQUEST", ""},
		{"not JSON", "POST", "/wx/urllink/generate", "application/json", `path=pages`, 400, "UNICLOUD_BAD_REQUEST", ""},
		{"JSON array", "POST", "/wx/urllink/generate", "application/json", `[{"path":"p"}]`, 400, "UNICLOUD_BAD_REQUEST", ""},
		{"JSON string", "POST", "/wx/auth/code2Session", "application/json", `"qaw.1"`, 400, "UNICLOUD_BAD_REQUEST", ""},
		{"code2Session without code", "POST", "/wx/auth/code2Session", "application/json", `{}`, 400, "UNICLOUD_BAD_REQUEST", "code"},
		{"code2Session code of the wrong type", "POST", "/wx/auth/code2Session", "application/json", `{"code":{"a":1}}`, 400, "UNICLOUD_BAD_REQUEST", "code"},
		{"phoneNumber without code", "POST", "/wx/phoneNumber/getPhoneNumber", "application/json", `{}`, 400, "UNICLOUD_BAD_REQUEST", "code"},
		{"decrypt without encryptedData", "POST", "/wx/decrypt/getPhoneNumber", "application/json", `{"openid":"o","iv":"aaaaaaaaaaaaaaaaaaaaaa=="}`, 400, "UNICLOUD_BAD_REQUEST", "encryptedData"},
		{"analysis without beginDate", "POST", "/wx/analysis/getWeeklyRetain", "application/json", `{"endDate":"20240107"}`, 400, "UNICLOUD_BAD_REQUEST", "beginDate"},
		{"scene of the wrong type", "POST", "/wx/wxacode/getUnlimited", "application/json", `{"scene":["a"]}`, 400, "UNICLOUD_BAD_REQUEST", "scene"},
		{"body over max_body", "POST", "/wxsmall/security/msgSecCheck", "application/json", `{"content":"` + long + `"}`, 413, "UNICLOUD_BODY_TOO_LARGE", ""},
		{"body over max_body, unknown API", "POST", "/wxsmall/urllink/generate", "application/json", `{"path":"` + long + `"}`, 413, "UNICLOUD_BODY_TOO_LARGE", ""},
		{"multipart over max_body", "POST", "/wxsmall/customerServiceMessage/uploadTempMedia", bigCT, bigBody, 413, "UNICLOUD_BODY_TOO_LARGE", ""},
		{"decrypt without openid or sessionKey", "POST", "/wx/decrypt/getPhoneNumber", "application/json", `{"encryptedData":"abc","iv":"abc"}`, 400, "UNICLOUD_BAD_REQUEST", "openid"},
		{"subscribe without templateId", "POST", "/wx/subscribeMessage/send", "application/json", `{"toUser":"o","data":{"thing1":{"value":"x"}}}`, 400, "UNICLOUD_BAD_REQUEST", "emplate"},
		{"token API outside the default allow", "POST", "/wx/auth/getAccessToken", "application/json", `{}`, 403, "UNICLOUD_API_NOT_ALLOWED", ""},
		{"token API with dots", "POST", "/wx/auth.getAccessToken", "application/json", `{}`, 403, "UNICLOUD_API_NOT_ALLOWED", ""},
	}
	before := g.proxy.count("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m, raw := g.do(t, c.method, c.path, c.contentType, c.body)
			if !qaWant(t, c.name, status, m, raw, c.status, c.code) {
				return
			}
			if qaStr(m, "errMsg") == "" {
				t.Errorf("%s: no errMsg: %s", c.name, raw)
			}
			if c.names != "" && !strings.Contains(qaStr(m, "errMsg"), c.names) {
				t.Errorf("%s: errMsg %q does not name %s", c.name, m["errMsg"], c.names)
			}
		})
	}
	if n := g.proxy.count("") - before; n != 0 {
		for _, e := range g.proxy.all("")[before:] {
			t.Logf("provider call %s %s", e.Method, e.Path)
		}
		t.Errorf("%d provider calls for requests the gateway must refuse itself", n)
	}
	// Under max_body, the same route works.
	status, m, raw := g.post(t, "/wxsmall/security/msgSecCheck", `{"content":"hello"}`)
	qaWant(t, "body under max_body", status, m, raw, 200, 0)
	g.noSecrets(t)
}

// TestQawProviderErrors: a provider error is HTTP 200 with the provider's
// errCode and errMsg; a provider that cannot be reached, answers 5xx or
// answers something unparseable is 502 UNICLOUD_UPSTREAM_ERROR; a token that
// cannot be obtained is 502 UNICLOUD_TOKEN_UNAVAILABLE; a provider too slow
// is 504 UNICLOUD_UPSTREAM_TIMEOUT; none of these answers holds a secret.
func TestQawProviderErrors(t *testing.T) {
	g := qawStart(t)
	// First, before any token is kept: the token request fails.
	for _, tc := range []struct {
		name   string
		status int
		answer string
	}{
		{"errcode", 200, `{"errcode":40125,"errmsg":"invalid appsecret"}`},
		{"5xx", 503, `{"errcode":-1,"errmsg":"system busy"}`},
	} {
		g.proxy.set(qawAnswer(tc.status, tc.answer, "/cgi-bin/stable_token", "/cgi-bin/token"), nil)
		before := g.proxy.count("/wxa/generate_urllink")
		status, m, raw := g.post(t, "/wx/urllink/generate", `{"path":"pages/index/index"}`)
		// A token endpoint answering 5xx is both rows of the table (no
		// token, a provider 5xx): 502 with either errCode.
		if tc.status >= 500 {
			if status != 502 || (m["errCode"] != "UNICLOUD_TOKEN_UNAVAILABLE" && m["errCode"] != "UNICLOUD_UPSTREAM_ERROR") {
				t.Errorf("token answer %s: %d %s, want 502", tc.name, status, raw)
			}
		} else {
			qaWant(t, "token answer "+tc.name, status, m, raw, 502, "UNICLOUD_TOKEN_UNAVAILABLE")
		}
		if g.proxy.count("/wxa/generate_urllink") != before {
			t.Errorf("token answer %s: the API was called without a token", tc.name)
		}
	}
	g.proxy.set(nil, nil)

	// Provider errors: HTTP 200, the provider's errCode and errMsg.
	status, m, raw := g.post(t, "/wx/security/msgSecCheck", `{"content":"some forbidden-word here"}`)
	if _, ok := m["errCode"].(json.Number); !ok {
		t.Errorf("provider errCode %#v is not a number: %s", m["errCode"], raw)
	}
	if qaWant(t, "msgSecCheck risky", status, m, raw, 200, 87014) {
		if want := qaJSONField(g.proxy.last(t, "/wxa/msg_sec_check").RespBody, "errmsg"); qaStr(m, "errMsg") != want {
			t.Errorf("errMsg %q, want the provider's %q", m["errMsg"], want)
		}
	}
	for code, want := range map[string]int{"invalid": 40029, "used": 40163} {
		status, m, raw = g.post(t, "/wx/auth/code2Session", `{"code":"`+code+`"}`)
		if qaWant(t, "code2Session "+code, status, m, raw, 200, want) && qaStr(m, "errMsg") == "" {
			t.Errorf("code %s: no errMsg: %s", code, raw)
		}
	}
	status, m, raw = g.post(t, "/wx/phoneNumber/getPhoneNumber", `{"code":"invalid"}`)
	qaWant(t, "getPhoneNumber invalid code", status, m, raw, 200, 40029)

	// The provider fails.
	for _, tc := range []struct {
		name, path, api, body string
		status                int
		answer                string
	}{
		{"5xx", "/wxa/generate_urllink", "urllink/generate", `{"path":"p"}`, 500, `{"errcode":-1,"errmsg":"system error"}`},
		{"502 page", "/wxa/generate_urllink", "urllink/generate", `{"path":"p"}`, 502, `<html>bad gateway</html>`},
		{"unparseable", "/wxa/generate_urllink", "urllink/generate", `{"path":"p"}`, 200, `<html>not json</html>`},
		{"code2Session 5xx", "/sns/jscode2session", "auth/code2Session", `{"code":"qawfail.1"}`, 500, `internal error`},
		{"code2Session unparseable", "/sns/jscode2session", "auth/code2Session", `{"code":"qawfail.2"}`, 200, `{"openid":`},
	} {
		g.proxy.set(qawAnswer(tc.status, tc.answer, tc.path), nil)
		status, m, raw := g.post(t, "/wx/"+tc.api, tc.body)
		if qaWant(t, "provider "+tc.name, status, m, raw, 502, "UNICLOUD_UPSTREAM_ERROR") && qaStr(m, "errMsg") == "" {
			t.Errorf("provider %s: no errMsg: %s", tc.name, raw)
		}
	}
	g.proxy.set(nil, nil)

	// Nothing listens on the endpoint (code2Session needs no token).
	status, m, raw = g.post(t, "/wxdead/auth/code2Session", `{"code":"qawdead.1"}`)
	qaWant(t, "unreachable provider", status, m, raw, 502, "UNICLOUD_UPSTREAM_ERROR")
	status, m, raw = g.post(t, "/wxdead/urllink/generate", `{"path":"p"}`)
	if status != 502 || (m["errCode"] != "UNICLOUD_TOKEN_UNAVAILABLE" && m["errCode"] != "UNICLOUD_UPSTREAM_ERROR") {
		t.Errorf("unreachable provider, token API: %d %s, want 502", status, raw)
	}

	// Too slow: the provider holds the answer until the gateway gave up.
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	g.proxy.set(func(e *qaExchange) (int, []byte, bool) {
		if e.Path == "/wxa/generate_urllink" || e.Path == "/sns/jscode2session" {
			<-release
			return 200, []byte(`{"errcode":0,"errmsg":"ok"}`), true
		}
		return 0, nil, false
	}, nil)
	status, m, raw = g.post(t, "/wxslow/urllink/generate", `{"path":"p"}`)
	qaWant(t, "slow provider", status, m, raw, 504, "UNICLOUD_UPSTREAM_TIMEOUT")
	status, m, raw = g.post(t, "/wxslow/auth/code2Session", `{"code":"qawslow.1"}`)
	qaWant(t, "slow code2Session", status, m, raw, 504, "UNICLOUD_UPSTREAM_TIMEOUT")
	free()
	g.proxy.set(nil, nil)

	// A binary API whose provider answers JSON: that JSON, converted.
	g.proxy.set(qawAnswer(200, `{"errcode":45009,"errmsg":"reach max api daily quota limit","extra_info":{"retry_after":60}}`, "/wxa/getwxacodeunlimit"), nil)
	r := testSend(t, http.MethodPost, g.base+"/wxallow/wxacode/getUnlimited", headerPairs("application/json"), []byte(`{"scene":"a=1"}`))
	m, _ = jsonNumbers(r.Body)
	if qaWant(t, "binary API answered JSON", r.Status, m, r.Body, 200, 45009) {
		if qaStr(m, "errMsg") != "reach max api daily quota limit" || qaJSONField(r.Body, "extraInfo", "retryAfter") != "60" {
			t.Errorf("converted answer %s", r.Body)
		}
		if !strings.Contains(r.Header.Get("Content-Type"), "json") {
			t.Errorf("Content-Type %q, want JSON", r.Header.Get("Content-Type"))
		}
	}
	g.proxy.set(nil, nil)
	g.noSecrets(t)
}

// TestQawAllowRules: allow takes API names and globs (anything else is
// 403 UNICLOUD_API_NOT_ALLOWED, with no provider call); by default every
// catalog API but auth.getAccessToken is allowed, which answers the
// gateway's current token when allowed; the generic request goes to a
// path relative to the endpoint, only under an allow_raw prefix (none by
// default).
func TestQawAllowRules(t *testing.T) {
	g := qawStart(t)
	// allow auth.* wxacode.*
	g.login(t, "/wxallow/", "qawallow.1")
	r := testSend(t, http.MethodPost, g.base+"/wxallow/wxacode.getUnlimited", headerPairs("application/json"), []byte(`{"scene":"a=1"}`))
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "image/") {
		t.Errorf("wxacode.getUnlimited under allow wxacode.*: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	before := g.proxy.count("")
	for _, c := range []struct{ path, body string }{
		{"/wxallow/urllink/generate", `{"path":"p"}`},
		{"/wxallow/urllink.generate", `{"path":"p"}`},
		{"/wxallow/security/msgSecCheck", `{"content":"hello"}`},
		{"/wxallow/request", `{"method":"POST","url":"/wxa/generate_urllink","data":{"path":"p"}}`},
		{"/wxtok/auth/code2Session", `{"code":"qawallow.2"}`},
		{"/wxtok/wxacode/get", `{"path":"p"}`},
		{"/wx/auth/getAccessToken", `{}`},
		{"/wxexp/auth/getAccessToken", `{}`},
		// allow_raw: the default is none; else only its prefixes.
		{"/wxexp/request", `{"method":"POST","url":"/wxa/generate_urllink","data":{"path":"p"}}`},
		{"/wx/request", `{"method":"GET","url":"/cgi-bin/token?grant_type=client_credential"}`},
		{"/wx/request", `{"method":"POST","url":"/cgi-bin/stable_token","data":{}}`},
		{"/wx/request", `{"method":"GET","url":"/sns/jscode2session?js_code=x"}`},
		{"/wx/request", `{"method":"POST","url":"/datacube/getweanalysisappiddailyretaininfo","data":{}}`},
		{"/wxallow/auth/request", `{}`},
	} {
		status, m, raw := g.post(t, c.path, c.body)
		if c.path == "/wxallow/auth/request" {
			// Not in the catalog at all: unknown, or not allowed.
			if status != 404 && status != 403 {
				t.Errorf("%s: %d %s, want a refusal", c.path, status, raw)
			}
			continue
		}
		if qaWant(t, c.path+" "+c.body, status, m, raw, 403, "UNICLOUD_API_NOT_ALLOWED") && qaStr(m, "errMsg") == "" {
			t.Errorf("%s: no errMsg: %s", c.path, raw)
		}
	}
	// Paths that leave an allow_raw prefix or the endpoint are refused
	// too, whatever the errCode.
	for _, u := range []string{"/wxa/../cgi-bin/token", "/cgi-bin/message/../../sns/jscode2session", "https://qaw-elsewhere.invalid/wxa/x", "//qaw-elsewhere.invalid/wxa/x"} {
		status, m, raw := g.post(t, "/wx/request", qaJSON(map[string]any{"method": "GET", "url": u}))
		if status == 200 || (m["errCode"] != "UNICLOUD_API_NOT_ALLOWED" && m["errCode"] != "UNICLOUD_BAD_REQUEST") {
			t.Errorf("request url %s: %d %s, want 403 or 400", u, status, raw)
		}
	}
	if n := g.proxy.count("") - before; n != 0 {
		for _, e := range g.proxy.all("")[before:] {
			t.Logf("provider call %s %s", e.Method, e.Path)
		}
		t.Errorf("%d provider calls for refused requests", n)
	}

	// The generic request under allow_raw: relative to the endpoint, with
	// the gateway's token, the answer converted.
	status, m, raw := g.post(t, "/wx/request", `{"method":"POST","url":"/wxa/generate_urllink","data":{"path":"pages/index/index","query":"a=1"}}`)
	if qaWant(t, "request /wxa/generate_urllink", status, m, raw, 200, 0) {
		e := g.proxy.last(t, "/wxa/generate_urllink")
		if e.Method != http.MethodPost || e.Query.Get("access_token") == "" || e.Query.Get("access_token") != qawTokenOf(g.proxy, qawApp) {
			t.Errorf("raw call %s ?%s, want POST with the gateway's token", e.Method, e.Query.Encode())
		}
		if b := qawBody(t, e); b["path"] != "pages/index/index" || b["query"] != "a=1" {
			t.Errorf("raw call body %s", e.ReqBody)
		}
		if qaStr(m, "urlLink") == "" || qaStr(m, "errMsg") != "ok" {
			t.Errorf("raw answer %s, want urlLink and errMsg ok", raw)
		}
	}
	status, m, raw = g.post(t, "/wx/request", `{"method":"POST","url":"/cgi-bin/message/custom/typing","data":{"touser":"oQawNobody","command":"Typing"}}`)
	if status != 200 || g.proxy.count("/cgi-bin/message/custom/typing") != 1 {
		t.Errorf("request under /cgi-bin/message/: %d %s", status, raw)
	} else if _, ok := m["errCode"]; !ok {
		t.Errorf("raw answer without errCode: %s", raw)
	}
	g.noSecrets(t)

	// auth.getAccessToken, allowed: the gateway's current token.
	status, m, raw = g.post(t, "/wxtok/urllink/generate", `{"path":"p"}`)
	qaWant(t, "urllink under /wxtok/", status, m, raw, 200, 0)
	used := g.proxy.last(t, "/wxa/generate_urllink").Query.Get("access_token")
	status, m, raw = g.post(t, "/wxtok/auth/getAccessToken", `{}`)
	if qaWant(t, "auth.getAccessToken allowed", status, m, raw, 200, 0) {
		if qaStr(m, "accessToken") != used || used == "" {
			t.Errorf("accessToken %q, want the token the gateway uses %q", m["accessToken"], used)
		}
		if n, err := fmt.Sscan(fmt.Sprint(m["expiresIn"]), new(int)); n != 1 || err != nil || fmt.Sprint(m["expiresIn"]) == "0" {
			t.Errorf("expiresIn %v, want a number of seconds", m["expiresIn"])
		}
	}
	if n := qawTokenFetches(g.proxy, qawApp); n != 1 {
		t.Errorf("%d token fetches, want 1 (getAccessToken answers the kept token)", n)
	}
}

// TestQawBinaryAnswersAndUploads: wxacode.* answer the image bytes with the
// provider's Content-Type, or with "encoding":"base64" / Accept:
// application/json {errCode 0, errMsg ok, contentType, buffer}; uploads
// come as multipart (media / img) or JSON {contentType, value} / base64;
// getTempMedia answers the media's bytes.
func TestQawBinaryAnswersAndUploads(t *testing.T) {
	g := qawStart(t)
	for _, c := range []struct{ api, body, path string }{
		{"wxacode/getUnlimited", `{"scene":"a=1","page":"pages/index/index"}`, "/wxa/getwxacodeunlimit"},
		{"wxacode.get", `{"path":"pages/index/index"}`, "/wxa/getwxacode"},
		{"wxacode/createQRCode", `{"path":"pages/index/index"}`, "/cgi-bin/wxaapp/createwxaqrcode"},
	} {
		t.Run(c.api, func(t *testing.T) {
			r := testSend(t, http.MethodPost, g.base+"/wx/"+c.api, headerPairs("application/json"), []byte(c.body))
			img := g.proxy.last(t, c.path).RespBody
			ct := r.Header.Get("Content-Type")
			if r.Status != 200 || !strings.HasPrefix(ct, "image/") || !bytes.Equal(r.Body, img) || len(img) == 0 {
				t.Fatalf("%s: %d %s, %d bytes (provider %d); want the provider's image", c.api, r.Status, ct, len(r.Body), len(img))
			}
			if _, err := png.Decode(bytes.NewReader(r.Body)); err != nil && ct == "image/png" {
				t.Errorf("%s: not a PNG: %v", c.api, err)
			}
			asJSON := func(what string, r testResponse) {
				t.Helper()
				m, _ := jsonNumbers(r.Body)
				if !qaWant(t, what, r.Status, m, r.Body, 200, 0) {
					return
				}
				buf, err := base64.StdEncoding.DecodeString(qaStr(m, "buffer"))
				img := g.proxy.last(t, c.path).RespBody
				if err != nil || !bytes.Equal(buf, img) || qaStr(m, "errMsg") != "ok" || qaStr(m, "contentType") != ct {
					t.Errorf("%s: %.200s; want errMsg ok, contentType %s and the image in base64", what, r.Body, ct)
				}
				if !strings.Contains(r.Header.Get("Content-Type"), "json") {
					t.Errorf("%s: Content-Type %q", what, r.Header.Get("Content-Type"))
				}
			}
			b64 := strings.TrimSuffix(c.body, "}") + `,"encoding":"base64"}`
			asJSON("encoding base64", testSend(t, http.MethodPost, g.base+"/wx/"+c.api, headerPairs("application/json"), []byte(b64)))
			asJSON("Accept: application/json", testSend(t, http.MethodPost, g.base+"/wx/"+c.api, headerPairs("application/json", "Accept", "application/json"), []byte(c.body)))
		})
	}

	// Uploads: multipart media, then the media back as bytes.
	ct, body := qawMultipart("media", qawPNG, "type", "image")
	status, m, raw := g.do(t, http.MethodPost, "/wx/customerServiceMessage/uploadTempMedia", ct, body)
	if !qaWant(t, "multipart uploadTempMedia", status, m, raw, 200, 0) {
		return
	}
	up := g.proxy.last(t, "/cgi-bin/media/upload")
	if !bytes.Contains(up.ReqBody, qawPNG) || !bytes.Contains(up.ReqBody, []byte(`name="media"`)) || up.Query.Get("type") == "" && !bytes.Contains(up.ReqBody, []byte(`name="type"`)) {
		t.Errorf("media/upload got ?%s and %d bytes without the media field or the type", up.Query.Encode(), len(up.ReqBody))
	}
	mediaID := qaStr(m, "mediaId")
	if mediaID == "" {
		t.Fatalf("upload answer without mediaId: %s", raw)
	}
	r := testSend(t, http.MethodPost, g.base+"/wx/customerServiceMessage/getTempMedia", headerPairs("application/json"), []byte(`{"mediaId":"`+mediaID+`"}`))
	if r.Status != 200 || !bytes.Equal(r.Body, qawPNG) {
		t.Errorf("getTempMedia: %d, %d bytes, want the uploaded %d", r.Status, len(r.Body), len(qawPNG))
	}
	if e := g.proxy.last(t, "/cgi-bin/media/get"); e.Query.Get("media_id") != mediaID {
		t.Errorf("media/get ?%s, want media_id=%s", e.Query.Encode(), mediaID)
	}
	r = testSend(t, http.MethodPost, g.base+"/wx/customerServiceMessage/getTempMedia", headerPairs("application/json", "Accept", "application/json"), []byte(`{"mediaId":"`+mediaID+`"}`))
	if m, _ := jsonNumbers(r.Body); qaWant(t, "getTempMedia Accept: application/json", r.Status, m, r.Body, 200, 0) &&
		(qaStr(m, "buffer") != qawB64(qawPNG) || qaStr(m, "contentType") == "" || qaStr(m, "errMsg") != "ok") {
		t.Errorf("getTempMedia as JSON: %.200s", r.Body)
	}
	// JSON {contentType, value} upload, and the bytes back in base64.
	status, m, raw = g.post(t, "/wx/customerServiceMessage/uploadTempMedia", `{"type":"image","media":{"contentType":"image/png","value":"`+qawB64(qawPNG)+`"}}`)
	if qaWant(t, "JSON uploadTempMedia", status, m, raw, 200, 0) {
		if !bytes.Contains(g.proxy.last(t, "/cgi-bin/media/upload").ReqBody, qawPNG) {
			t.Errorf("media/upload did not get the decoded bytes")
		}
		status, m, raw = g.post(t, "/wx/customerServiceMessage/getTempMedia", `{"mediaId":"`+qaStr(m, "mediaId")+`","encoding":"base64"}`)
		if qaWant(t, "getTempMedia base64", status, m, raw, 200, 0) && qaStr(m, "buffer") != qawB64(qawPNG) {
			t.Errorf("getTempMedia base64: %.200s", raw)
		}
	}
	// img.* and security.imgSecCheck, multipart and JSON.
	risky := append(append([]byte{}, qawPNG...), []byte("forbidden-word")...)
	for _, c := range []struct {
		name, api, path, field string
		file                   []byte
		json                   string
		want                   int
	}{
		{"aiCrop multipart", "img/aiCrop", "/cv/img/aicrop", "img", qawPNG, "", 0},
		{"aiCrop JSON", "img/aiCrop", "/cv/img/aicrop", "", qawPNG, `{"img":{"contentType":"image/png","value":"` + qawB64(qawPNG) + `"}}`, 0},
		{"superresolution JSON", "img.superresolution", "/cv/img/superresolution", "", qawPNG, `{"img":{"contentType":"image/png","value":"` + qawB64(qawPNG) + `"}}`, 0},
		{"imgSecCheck multipart", "security/imgSecCheck", "/wxa/img_sec_check", "media", qawPNG, "", 0},
		{"imgSecCheck multipart risky", "security/imgSecCheck", "/wxa/img_sec_check", "media", risky, "", 87014},
		{"imgSecCheck JSON risky", "security/imgSecCheck", "/wxa/img_sec_check", "", risky, `{"media":{"contentType":"image/png","value":"` + qawB64(risky) + `"}}`, 87014},
		{"imgSecCheck base64", "security/imgSecCheck", "/wxa/img_sec_check", "", qawPNG, `{"base64":"` + qawB64(qawPNG) + `"}`, 0},
	} {
		var status int
		var m map[string]any
		var raw []byte
		if c.json == "" {
			ct, body := qawMultipart(c.field, c.file)
			status, m, raw = g.do(t, http.MethodPost, "/wx/"+c.api, ct, body)
		} else {
			status, m, raw = g.post(t, "/wx/"+c.api, c.json)
		}
		if qaWant(t, c.name, status, m, raw, 200, c.want) {
			if e := g.proxy.last(t, c.path); !bytes.Contains(e.ReqBody, c.file) {
				t.Errorf("%s: %s did not get the image bytes", c.name, c.path)
			}
		}
	}
	g.noSecrets(t)
}

// TestQawTokenRetry: when WeChat answers 40001, 42001 or 40014, the token is
// dropped, a fresh one obtained and the call retried once; a second
// rejection is answered as the provider's error; other errors are not
// retried.
func TestQawTokenRetry(t *testing.T) {
	g := qawStart(t)
	const path = "/wxa/generate_urllink"
	call := func(t *testing.T) (int, map[string]any, []byte, []qaExchange) {
		t.Helper()
		before := g.proxy.count(path)
		status, m, raw := g.post(t, "/wx/urllink/generate", `{"path":"pages/index/index"}`)
		return status, m, raw, g.proxy.all(path)[before:]
	}
	status, m, raw, _ := call(t)
	qaWant(t, "first call", status, m, raw, 200, 0)

	for _, c := range []struct{ name, hook string }{
		{"40001 revoked", "/_emulator/weixin/revoke_tokens?appid=" + qawApp},
		{"42001 expired", "/_emulator/weixin/expire_tokens?appid=" + qawApp},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := qawTokenOf(g.proxy, qawApp)
			if st, _, hraw := g.hook(t, http.MethodPost, c.hook); st != 200 {
				t.Fatalf("hook %s: %d %s", c.hook, st, hraw)
			}
			fetches := qawTokenFetches(g.proxy, qawApp)
			status, m, raw, calls := call(t)
			if !qaWant(t, c.name, status, m, raw, 200, 0) {
				return
			}
			if len(calls) != 2 {
				t.Fatalf("%d provider calls, want the rejected one and one retry", len(calls))
			}
			fresh := qawTokenOf(g.proxy, qawApp)
			if calls[0].Query.Get("access_token") != old || calls[1].Query.Get("access_token") != fresh || fresh == old {
				t.Errorf("calls with %.12s… then %.12s…; want the old token %.12s… then the fresh one %.12s…",
					calls[0].Query.Get("access_token"), calls[1].Query.Get("access_token"), old, fresh)
			}
			if qawTokenFetches(g.proxy, qawApp) <= fetches {
				t.Errorf("no token fetched after the rejection")
			}
			// The fresh token is kept: the next call needs no fetch.
			fetches = qawTokenFetches(g.proxy, qawApp)
			status, m, raw, calls = call(t)
			if qaWant(t, "next call", status, m, raw, 200, 0) && (len(calls) != 1 || qawTokenFetches(g.proxy, qawApp) != fetches) {
				t.Errorf("next call: %d provider calls, %d token fetches; want 1 and none", len(calls), qawTokenFetches(g.proxy, qawApp)-fetches)
			}
		})
	}

	t.Run("40014 invalid", func(t *testing.T) {
		var mu sync.Mutex
		rejected := 0
		g.proxy.set(func(e *qaExchange) (int, []byte, bool) {
			mu.Lock()
			defer mu.Unlock()
			if e.Path == path && rejected == 0 {
				rejected++
				return 200, []byte(`{"errcode":40014,"errmsg":"invalid access_token"}`), true
			}
			return 0, nil, false
		}, nil)
		defer g.proxy.set(nil, nil)
		fetches := qawTokenFetches(g.proxy, qawApp)
		status, m, raw, calls := call(t)
		if qaWant(t, "40014", status, m, raw, 200, 0) && len(calls) != 2 {
			t.Errorf("%d provider calls, want 2", len(calls))
		}
		if qawTokenFetches(g.proxy, qawApp) <= fetches {
			t.Errorf("no token fetched after 40014")
		}
	})

	t.Run("retried once only", func(t *testing.T) {
		g.proxy.set(qawAnswer(200, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}`, path), nil)
		status, m, raw, calls := call(t)
		g.proxy.set(nil, nil)
		if qaWant(t, "40001 twice", status, m, raw, 200, 40001) && qaStr(m, "errMsg") == "" {
			t.Errorf("no errMsg: %s", raw)
		}
		if len(calls) != 2 {
			t.Errorf("%d provider calls, want 2 (one retry)", len(calls))
		}
		status, m, raw, _ = call(t)
		qaWant(t, "after", status, m, raw, 200, 0)
	})

	t.Run("other errors are not retried", func(t *testing.T) {
		g.proxy.set(qawAnswer(200, `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, path), nil)
		fetches := qawTokenFetches(g.proxy, qawApp)
		status, m, raw, calls := call(t)
		g.proxy.set(nil, nil)
		qaWant(t, "45009", status, m, raw, 200, 45009)
		if len(calls) != 1 || qawTokenFetches(g.proxy, qawApp) != fetches {
			t.Errorf("%d provider calls and %d token fetches, want 1 and none", len(calls), qawTokenFetches(g.proxy, qawApp)-fetches)
		}
	})

	t.Run("a binary API", func(t *testing.T) {
		if st, _, hraw := g.hook(t, http.MethodPost, "/_emulator/weixin/revoke_tokens?appid="+qawApp); st != 200 {
			t.Fatalf("revoke: %d %s", st, hraw)
		}
		before := g.proxy.count("/wxa/getwxacodeunlimit")
		r := testSend(t, http.MethodPost, g.base+"/wx/wxacode/getUnlimited", headerPairs("application/json"), []byte(`{"scene":"a=1"}`))
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "image/") || g.proxy.count("/wxa/getwxacodeunlimit")-before != 2 {
			t.Errorf("after a revoke: %d %s %.100s, %d calls; want the image after one retry", r.Status, r.Header.Get("Content-Type"), r.Body, g.proxy.count("/wxa/getwxacodeunlimit")-before)
		}
	})
	g.noSecrets(t)
}

// TestQawTokenSharedAndModes: one token per (endpoint, appid), shared by
// every handler; stable (POST /cgi-bin/stable_token) by default, classic
// (GET /cgi-bin/token) with token_mode classic; the token is added by the
// gateway and never answered.
func TestQawTokenSharedAndModes(t *testing.T) {
	g := qawStart(t)
	for _, route := range []string{"/wx/", "/wxexp/", "/wxtok/", "/wxsmall/", "/wxslow/"} {
		status, m, raw := qaPost(t, g.base+route+"urllink/generate", `{"path":"pages/index/index"}`)
		qaWant(t, route+"urllink.generate", status, m, raw, 200, 0)
		qaNoneOf(t, route+" answer", raw, g.secrets()...)
	}
	r := testSend(t, http.MethodPost, g.base+"/wxallow/wxacode/get", headerPairs("application/json"), []byte(`{"path":"p"}`))
	if r.Status != 200 {
		t.Errorf("wxacode.get: %d %s", r.Status, r.Body)
	}
	if n := qawTokenFetches(g.proxy, qawApp); n != 1 {
		t.Errorf("%d token fetches for six handlers with the same endpoint and appid, want 1", n)
	}
	if n := g.proxy.count("/cgi-bin/token"); n != 0 {
		t.Errorf("%d classic token requests by default", n)
	}
	st := g.proxy.last(t, "/cgi-bin/stable_token")
	if b := qawBody(t, st); st.Method != http.MethodPost || b["appid"] != qawApp || b["secret"] != qawSecret || b["grant_type"] != "client_credential" {
		t.Errorf("stable_token request %s %s", st.Method, st.ReqBody)
	}
	tok := qawTokenOf(g.proxy, qawApp)
	for _, e := range g.proxy.all("/wxa/generate_urllink") {
		if e.Query.Get("access_token") != tok {
			t.Errorf("a call with token %q, want the one kept %q", e.Query.Get("access_token"), tok)
		}
		if bytes.Contains(e.ReqBody, []byte(tok)) {
			t.Errorf("the token went in the body: %s", e.ReqBody)
		}
	}

	// token_mode classic.
	status, m, raw := qaPost(t, g.base+"/wxclassic/urllink/generate", `{"path":"pages/index/index"}`)
	if qaWant(t, "classic urllink.generate", status, m, raw, 200, 0) {
		if n := g.classic.count("/cgi-bin/stable_token"); n != 0 {
			t.Errorf("%d stable_token requests with token_mode classic", n)
		}
		ct := g.classic.last(t, "/cgi-bin/token")
		if ct.Method != http.MethodGet || ct.Query.Get("appid") != qawApp || ct.Query.Get("secret") != qawSecret || ct.Query.Get("grant_type") != "client_credential" {
			t.Errorf("classic token request %s ?%s", ct.Method, ct.Query.Encode())
		}
		if e := g.classic.last(t, "/wxa/generate_urllink"); e.Query.Get("access_token") != qawTokenOf(g.classic, qawApp) {
			t.Errorf("classic call used %q", e.Query.Get("access_token"))
		}
	}
	qaNoneOf(t, "classic answer", raw, g.secrets()...)
}

// TestQawConcurrentMissesOneFetch: calls that all find no token at once
// cause one token fetch, and every one of them succeeds with that token.
func TestQawConcurrentMissesOneFetch(t *testing.T) {
	g := qawStart(t)
	const n = 12
	start := make(chan struct{})
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			body := fmt.Sprintf(`{"path":"pages/index/index","query":"i=%d"}`, i)
			resp, err := http.Post(g.base+"/wx/urllink/generate", "application/json", strings.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			results <- result{status: resp.StatusCode, body: b.Bytes()}
		}(i)
	}
	close(start)
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		m, _ := jsonNumbers(r.body)
		qaWant(t, "concurrent urllink.generate", r.status, m, r.body, 200, 0)
		qaNoneOf(t, "concurrent answer", r.body, g.secrets()...)
	}
	if f := qawTokenFetches(g.proxy, qawApp); f != 1 {
		t.Errorf("%d token fetches for %d concurrent first calls, want 1", f, n)
	}
	tok := qawTokenOf(g.proxy, qawApp)
	for _, e := range g.proxy.all("/wxa/generate_urllink") {
		if e.Query.Get("access_token") != tok {
			t.Errorf("a call with another token than the one fetched")
		}
	}
}
