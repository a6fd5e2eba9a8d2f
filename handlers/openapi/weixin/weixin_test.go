package weixin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/openapi"
	"github.com/caddy-unicloud/unicloud/internal/bounded/boundedtest"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// BenchmarkOpenAPICall is one whole gateway call (urllink.generate) against
// a local upstream, without Caddy's server around it: the handler's own
// cost plus one loopback round trip.
func BenchmarkOpenAPICall(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/cgi-bin/stable_token" {
			_, _ = io.WriteString(w, `{"access_token":"bench-token","expires_in":7200}`)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","url_link":"https://wxaurl.cn/aBcDeFgHiJk"}`)
	}))
	defer upstream.Close()
	h := newGateway(b, &openapi.OpenAPI{}, &Weixin{AppID: "wxbench", Secret: "s", Endpoint: upstream.URL})
	body := []byte(`{"path":"pages/index/index","query":"a=1","isExpire":false}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest(http.MethodPost, "/urllink/generate", bytes.NewReader(body))
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil || w.Code != 200 {
			b.Fatalf("%d %v %s", w.Code, err, w.Body)
		}
	}
}

func TestWeixinValidate(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	t.Setenv("UNICLOUD_VALIDATE_SECRET", "")
	for name, tc := range map[string]struct {
		wx   Weixin
		want string
	}{
		"ok":                 {Weixin{AppID: "wx1", Secret: "s"}, ""},
		"fixed token":        {Weixin{AppID: "wx1", AccessToken: "t"}, ""},
		"unset env secret":   {Weixin{AppID: "wx1", Secret: "{env.UNICLOUD_VALIDATE_SECRET}"}, "secret: {env.UNICLOUD_VALIDATE_SECRET} resolved to an empty value"},
		"more apps":          {Weixin{AppID: "wx1", Secret: "s", Apps: []App{{AppID: "wx2"}}}, "secret of app wx2 is empty"},
		"h5 without secret":  {Weixin{AppID: "wx1", Secret: "s", H5AppID: "wxoa"}, "h5_secret"},
		"no app":             {Weixin{}, "app_id"},
		"bad endpoint":       {Weixin{AppID: "wx1", Secret: "s", Endpoint: "ftp://x"}, "endpoint"},
		"bad token mode":     {Weixin{AppID: "wx1", Secret: "s", TokenMode: "fast"}, "token_mode"},
		"allow_raw relative": {Weixin{AppID: "wx1", Secret: "s", AllowRaw: []string{"wxa/"}}, "allow_raw"},
	} {
		t.Run(name, func(t *testing.T) {
			wx := tc.wx
			err := wx.Provision(ctx) // placeholders that resolve to nothing are refused here
			if err == nil {
				defer wx.Cleanup()
				err = wx.Validate()
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// fakeWeixin is a local stand-in for WeChat: tokens named after the appid,
// every other path answered by answer (default: ok), each request recorded.
type fakeWeixin struct {
	srv    *httptest.Server
	mu     sync.Mutex
	paths  []string
	tokens []string // access_token of each API call
}

func newFakeWeixin(t *testing.T, answer http.HandlerFunc) *fakeWeixin {
	f := &fakeWeixin{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		if r.URL.Path == "/cgi-bin/stable_token" {
			var req struct{ Appid string }
			_ = json.Unmarshal(body, &req)
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"access_token":"gateway-token-of-%s","expires_in":7200}`, req.Appid)
			return
		}
		f.mu.Lock()
		f.tokens = append(f.tokens, r.URL.Query().Get("access_token"))
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","url_link":"https://wxaurl.cn/x"}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeixin) calls() (paths, tokens []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...), append([]string(nil), f.tokens...)
}

const (
	testSecret1 = "secret-of-wx01-0123456789"
	testSecret2 = "secret-of-wx02-0123456789"
)

// newGateway provisions the host h with wx as its provider; the config's
// context is cancelled (and the provider cleaned up) at the end of the test.
func newGateway(tb testing.TB, h *openapi.OpenAPI, wx *Weixin) *openapi.OpenAPI {
	tb.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	h.ProviderRaw = caddyconfig.JSONModuleObject(wx, "name", "weixin", nil)
	if err := h.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		tb.Fatal(err)
	}
	return h
}

// newTestOpenAPI provisions a weixin gateway with two apps (wx01, the
// default, and wx02) against endpoint.
func newTestOpenAPI(t *testing.T, endpoint string, edit func(*openapi.OpenAPI, *Weixin)) *openapi.OpenAPI {
	t.Helper()
	h := &openapi.OpenAPI{}
	wx := &Weixin{AppID: "wx01", Secret: testSecret1, Apps: []App{{AppID: "wx02", Secret: testSecret2}},
		Endpoint: endpoint, AllowRaw: []string{"/wxa/"}}
	if edit != nil {
		edit(h, wx)
	}
	return newGateway(t, h, wx)
}

type testAnswer struct {
	status int
	header http.Header
	raw    []byte
	code   any
	msg    string
}

func callOpenAPI(t *testing.T, h *openapi.OpenAPI, r *http.Request) testAnswer {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	a := testAnswer{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	if strings.Contains(w.Header().Get("Content-Type"), "json") {
		var m map[string]any
		if err := json.Unmarshal(a.raw, &m); err != nil {
			t.Fatalf("answer is not JSON: %s", a.raw)
		}
		a.code, _ = m["errCode"]
		a.msg, _ = m["errMsg"].(string)
	}
	return a
}

func postJSON(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// A non-string appId (or one given twice, differently) is refused naming
// appId, before any provider call; it never silently serves the default app.
func TestOpenAPIAppIDMustBeAString(t *testing.T) {
	f := newFakeWeixin(t, nil)
	h := newTestOpenAPI(t, f.srv.URL, nil)
	get := func(q string, header ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/urllink/generate?path=p"+q, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Add(header[i], header[i+1])
		}
		return r
	}
	for name, tc := range map[string]struct {
		req     *http.Request
		status  int
		msg     string // errMsg (refusals) or the app whose token was used
		usedApp string
	}{
		"array":               {req: postJSON("/urllink/generate", `{"path":"p","appId":["wx02"]}`), status: 400, msg: "parameter must be a string: appId"},
		"number":              {req: postJSON("/urllink/generate", `{"path":"p","appId":2}`), status: 400, msg: "parameter must be a string: appId"},
		"object":              {req: postJSON("/urllink/generate", `{"path":"p","appId":{"id":"wx02"}}`), status: 400, msg: "parameter must be a string: appId"},
		"bool":                {req: postJSON("/urllink/generate", `{"path":"p","appId":true}`), status: 400, msg: "parameter must be a string: appId"},
		"snake array":         {req: postJSON("/urllink/generate", `{"path":"p","app_id":["wx02"]}`), status: 400, msg: "parameter must be a string: appId"},
		"lowercase number":    {req: postJSON("/urllink/generate", `{"path":"p","appid":1}`), status: 400, msg: "parameter must be a string: appId"},
		"two spellings":       {req: postJSON("/urllink/generate", `{"path":"p","appId":"wx02","appid":"wx01"}`), status: 400, msg: "parameter given twice with different values: appId"},
		"query twice":         {req: get("&appId=wx02&appId=wx01"), status: 400, msg: "parameter given more than once: appId"},
		"header twice":        {req: get("", "X-Unicloud-App-Id", "wx02", "X-Unicloud-App-Id", "wx01"), status: 400, msg: "header given more than once: X-Unicloud-App-Id"},
		"accessToken number":  {req: postJSON("/urllink/generate", `{"path":"p","accessToken":123}`), status: 400, msg: "parameter must be a string: accessToken"},
		"string":              {req: postJSON("/urllink/generate", `{"path":"p","appId":"wx02"}`), status: 200, usedApp: "wx02"},
		"same value twice":    {req: postJSON("/urllink/generate", `{"path":"p","appId":"wx02","appid":"wx02"}`), status: 200, usedApp: "wx02"},
		"query":               {req: get("&appId=wx02"), status: 200, usedApp: "wx02"},
		"header":              {req: get("", "X-Unicloud-App-Id", "wx02"), status: 200, usedApp: "wx02"},
		"null is the default": {req: postJSON("/urllink/generate", `{"path":"p","appId":null}`), status: 200, usedApp: "wx01"},
		"unknown string":      {req: postJSON("/urllink/generate", `{"path":"p","appId":"wx99"}`), status: 400, msg: "app not configured: wx99"},
	} {
		t.Run(name, func(t *testing.T) {
			before, _ := f.calls()
			a := callOpenAPI(t, h, tc.req)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.raw)
			}
			paths, tokens := f.calls()
			if tc.status != 200 {
				if a.msg != tc.msg {
					t.Fatalf("errMsg %q, want %q", a.msg, tc.msg)
				}
				if len(paths) != len(before) {
					t.Fatalf("the provider was called: %v", paths[len(before):])
				}
				return
			}
			if len(tokens) == 0 || tokens[len(tokens)-1] != "gateway-token-of-"+tc.usedApp {
				t.Fatalf("the provider got the tokens %v, want %s's", tokens, tc.usedApp)
			}
		})
	}
}

// Gateway errors say what to fix: the nearest API name, the body limit and
// its subdirective, the parameter in the caller's spelling.
func TestOpenAPIErrorMessages(t *testing.T) {
	f := newFakeWeixin(t, nil)
	h := newTestOpenAPI(t, f.srv.URL, func(h *openapi.OpenAPI, _ *Weixin) { h.MaxBody = 1 << 10 })
	def := newTestOpenAPI(t, f.srv.URL, nil)
	big := `{"content":"` + strings.Repeat("a", 2<<10) + `"}`
	for name, tc := range map[string]struct {
		h      *openapi.OpenAPI
		req    *http.Request
		status int
		code   string
		msg    string
	}{
		"typo":                {h, postJSON("/wxacode/getUnlimted", `{}`), 404, handlers.ErrAPINotFound, "unknown API: wxacode/getUnlimted (did you mean wxacode.getUnlimited?)"},
		"typo, dotted":        {h, postJSON("/wxacode.getUnlimted", `{}`), 404, handlers.ErrAPINotFound, "unknown API: wxacode.getUnlimted (did you mean wxacode.getUnlimited?)"},
		"typo, route prefix":  {h, postJSON("/wx/auth/code2session", `{}`), 404, handlers.ErrAPINotFound, "unknown API: wx/auth/code2session (did you mean auth.code2Session?)"},
		"nothing near":        {h, postJSON("/nothing/here/at/all", `{}`), 404, handlers.ErrAPINotFound, "unknown API: nothing/here/at/all"},
		"body over max_body":  {h, postJSON("/security/msgSecCheck", big), 413, handlers.ErrBodyTooLarge, "request body larger than max_body (1 KiB)"},
		"default max_body":    {def, postJSON("/security/msgSecCheck", `{"content":"`+strings.Repeat("a", 3<<20)+`"}`), 413, handlers.ErrBodyTooLarge, "request body larger than max_body (2 MiB)"},
		"missing toUser":      {h, postJSON("/subscribeMessage/send", `{"templateId":"t","data":{}}`), 400, handlers.ErrBadRequest, "missing required parameter: toUser"},
		"missing templateId":  {h, postJSON("/subscribeMessage/send", `{"toUser":"o","data":{}}`), 400, handlers.ErrBadRequest, "missing required parameter: templateId"},
		"missing msgType":     {h, postJSON("/customerServiceMessage/send", `{"toUser":"o"}`), 400, handlers.ErrBadRequest, "missing required parameter: msgType"},
		"raw without url":     {h, postJSON("/request", `{}`), 400, handlers.ErrBadRequest, "missing required parameter: url"},
		"GET body ignored":    {h, httptest.NewRequest(http.MethodGet, "/subscribeMessage/send?templateId=t", strings.NewReader(`{"toUser":"o"}`)), 400, handlers.ErrBadRequest, "missing required parameter: toUser (" + getBodyIgnored + ")"},
		"GET query, no body":  {h, httptest.NewRequest(http.MethodGet, "/subscribeMessage/send?templateId=t", nil), 400, handlers.ErrBadRequest, "missing required parameter: toUser"},
		"POST body, query ok": {h, postJSON("/urllink/generate?x=1", `{"path":"p"}`), 200, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			a := callOpenAPI(t, tc.h, tc.req)
			if a.status != tc.status || tc.code != "" && (a.code != tc.code || a.msg != tc.msg) {
				t.Fatalf("got %d %s, want %d %s %q", a.status, a.raw, tc.status, tc.code, tc.msg)
			}
		})
	}
}

// getBodyIgnored is the host's warning of a GET call that came with a body.
const getBodyIgnored = "the body of a GET request is ignored: send parameters in the query string, or use POST with a JSON body"

// A GET that comes with a body is served from its query string, and the
// caller is told that the body was ignored.
func TestOpenAPIGetWithBodyWarns(t *testing.T) {
	f := newFakeWeixin(t, nil)
	h := newTestOpenAPI(t, f.srv.URL, nil)
	a := callOpenAPI(t, h, httptest.NewRequest(http.MethodGet, "/urllink/generate?path=p", strings.NewReader(`{"path":"other"}`)))
	if a.status != 200 || a.code != float64(0) {
		t.Fatalf("GET with a body: %d %s", a.status, a.raw)
	}
	if got := a.header.Get("X-Unicloud-Warning"); got != getBodyIgnored {
		t.Fatalf("X-Unicloud-Warning %q", got)
	}
	a = callOpenAPI(t, h, httptest.NewRequest(http.MethodGet, "/urllink/generate?path=p", nil))
	if a.status != 200 || a.header.Get("X-Unicloud-Warning") != "" {
		t.Fatalf("GET without a body: %d, warning %q", a.status, a.header.Get("X-Unicloud-Warning"))
	}
	a = callOpenAPI(t, h, postJSON("/urllink/generate", `{"path":"p"}`))
	if a.status != 200 || a.header.Get("X-Unicloud-Warning") != "" {
		t.Fatalf("POST: %d, warning %q", a.status, a.header.Get("X-Unicloud-Warning"))
	}
}

func TestRedact(t *testing.T) {
	const tok, sec = "gateway-token-0123456789", "app-secret-0123456789"
	for name, tc := range map[string]struct {
		body    string
		secrets []string
		want    string
	}{
		"token echoed":        {`{"seen":"` + tok + `"}`, []string{tok, sec}, `{"seen":"[redacted]"}`},
		"secret echoed":       {`{"errmsg":"bad secret ` + sec + `"}`, []string{tok, sec}, `{"errmsg":"bad secret [redacted]"}`},
		"both, repeated":      {tok + sec + tok, []string{tok, sec}, "[redacted][redacted][redacted]"},
		"inside a longer one": {`{"u":"x` + tok + `y"}`, []string{tok}, `{"u":"x[redacted]y"}`},
		"nothing to hide":     {`{"errcode":0}`, []string{tok, sec}, `{"errcode":0}`},
		"empty secret":        {`{"a":""}`, []string{""}, `{"a":""}`},
		"short values kept":   {`{"errcode":0,"ok":"ok"}`, []string{"ok", "0"}, `{"errcode":0,"ok":"ok"}`},
		"eight bytes hidden":  {`{"k":"12345678"}`, []string{"12345678"}, `{"k":"[redacted]"}`},
		"no secrets":          {`{"k":"v"}`, nil, `{"k":"v"}`},
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(redact([]byte(tc.body), tc.secrets...)); got != tc.want {
				t.Fatalf("redact = %s, want %s", got, tc.want)
			}
			if got, want := containsSecret([]byte(tc.body), tc.secrets...), tc.want != tc.body; got != want {
				t.Fatalf("containsSecret = %v, want %v", got, want)
			}
		})
	}
}

func TestPrepareRaw(t *testing.T) {
	wx := &Weixin{AllowRaw: []string{"/wxa/", "/cgi-bin/message/"}}
	for name, tc := range map[string]struct {
		in     string
		status int    // 0: accepted
		msg    string // refusal's errMsg
		method string
		path   string
		query  string
		data   string
	}{
		"post by default":    {in: `{"url":"/wxa/getwxacode","data":{"path":"p"}}`, method: "POST", path: "/wxa/getwxacode", data: `{"path":"p"}`},
		"get with query":     {in: `{"method":"get","url":"/wxa/x?a=1&b=2"}`, method: "GET", path: "/wxa/x", query: "a=1&b=2", data: `{}`},
		"token in query":     {in: `{"url":"/wxa/x?access_token=stolen&a=1"}`, method: "POST", path: "/wxa/x", query: "a=1", data: `{}`},
		"relative cleaned":   {in: `{"url":"wxa//x/./y"}`, method: "POST", path: "/wxa/x/y", data: `{}`},
		"escaped anew":       {in: `{"url":"/wxa/a b"}`, method: "POST", path: "/wxa/a%20b", data: `{}`},
		"second prefix":      {in: `{"url":"/cgi-bin/message/custom/send"}`, method: "POST", path: "/cgi-bin/message/custom/send", data: `{}`},
		"missing url":        {in: `{}`, status: 400, msg: "missing required parameter: url"},
		"url not a string":   {in: `{"url":["/wxa/x"]}`, status: 400, msg: "missing required parameter: url"},
		"bad method":         {in: `{"method":"DELETE","url":"/wxa/x"}`, status: 400, msg: "parameter must be GET or POST: method"},
		"absolute url":       {in: `{"url":"https://evil.example/wxa/x"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"scheme-relative":    {in: `{"url":"//evil.example/wxa/x"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"backslash":          {in: `{"url":"/wxa\\..\\sns"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"fragment":           {in: `{"url":"/wxa/x#y"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"dot segments":       {in: `{"url":"/wxa/../sns/jscode2session"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"encoded dots":       {in: `{"url":"/wxa/%2e%2e/cgi-bin/token"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"double encoded":     {in: `{"url":"/wxa/%252e%252e/x"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"NUL":                {in: `{"url":"/wxa/a%00b"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"control character":  {in: `{"url":"/wxa/a\u0001b"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"bad escape":         {in: `{"url":"/wxa/%zz"}`, status: 400, msg: "parameter must be a path relative to the endpoint: url"},
		"not allowed":        {in: `{"url":"/sns/jscode2session"}`, status: 403, msg: "raw path not allowed: /sns/jscode2session"},
		"prefix needs slash": {in: `{"url":"/wxaother/x"}`, status: 403, msg: "raw path not allowed: /wxaother/x"},
		"bad query":          {in: `{"url":"/wxa/x?a=%zz"}`, status: 400, msg: "parameter has a bad query string: url"},
		"data not an object": {in: `{"url":"/wxa/x","data":[1]}`, status: 400, msg: "parameter must be an object: data"},
		"data a string":      {in: `{"url":"/wxa/x","data":"a=1"}`, status: 400, msg: "parameter must be an object: data"},
	} {
		t.Run(name, func(t *testing.T) {
			in, err := handlers.DecodeObject([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			req := &weixin.Request{}
			err = wx.prepareRaw(req, in)
			if tc.status != 0 {
				var ge *handlers.Error
				if !errors.As(err, &ge) || ge.Status != tc.status || ge.Msg != tc.msg {
					t.Fatalf("err %v, want %d %q", err, tc.status, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := json.Marshal(req.Params)
			if req.Method != tc.method || req.Path != tc.path || req.Query.Encode() != tc.query || string(data) != tc.data {
				t.Fatalf("got %s %s ? %s data %s", req.Method, req.Path, req.Query.Encode(), data)
			}
		})
	}
}

// JSON answers are redacted; binary answers are passed as the provider
// sent them, byte for byte, unless they hold the gateway's token or secret:
// then they are refused (502), not edited (an edited image is corrupt).
func TestOpenAPIAnswerRedaction(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 64)...)
	f := newFakeWeixin(t, func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("access_token")
		switch r.URL.Path {
		case "/wxa/echo":
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","seen":%q,"secret":%q}`, tok, testSecret1)
		case "/wxa/getwxacodeunlimit":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
		case "/wxa/getwxacode":
			// An echo of the request dressed as an image.
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(append(append([]byte{}, png...), tok...))
		case "/cgi-bin/wxaapp/createwxaqrcode":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(append([]byte("GET /?secret="+testSecret1+" "), png...))
		}
	})
	h := newTestOpenAPI(t, f.srv.URL, nil)
	const token = "gateway-token-of-wx01"

	a := callOpenAPI(t, h, postJSON("/request", `{"url":"/wxa/echo"}`))
	if a.status != 200 || bytes.Contains(a.raw, []byte(token)) || bytes.Contains(a.raw, []byte(testSecret1)) ||
		!bytes.Contains(a.raw, []byte(`"seen":"[redacted]"`)) {
		t.Fatalf("JSON echo: %d %s", a.status, a.raw)
	}
	a = callOpenAPI(t, h, postJSON("/wxacode/getUnlimited", `{"scene":"a"}`))
	if a.status != 200 || a.header.Get("Content-Type") != "image/png" || !bytes.Equal(a.raw, png) {
		t.Fatalf("image: %d %q %d bytes", a.status, a.header.Get("Content-Type"), len(a.raw))
	}
	for _, path := range []string{"/wxacode/get", "/wxacode/createQRCode"} {
		for _, accept := range []string{"", "application/json"} {
			r := postJSON(path, `{"path":"p"}`)
			r.Header.Set("Accept", accept)
			a = callOpenAPI(t, h, r)
			if a.status != 502 || a.code != handlers.ErrUpstream || bytes.Contains(a.raw, []byte(token)) || bytes.Contains(a.raw, []byte(testSecret1)) {
				t.Fatalf("%s (Accept %q), a file holding a credential: %d %s", path, accept, a.status, a.raw)
			}
		}
	}
	// A caller's own token is theirs: a file that holds it is passed on.
	a = callOpenAPI(t, h, postJSON("/wxacode/get", `{"path":"p","accessToken":"callers-own-token-value"}`))
	if a.status != 200 || !bytes.HasSuffix(a.raw, []byte("callers-own-token-value")) {
		t.Fatalf("caller's own token: %d %q", a.status, a.raw)
	}
}

// A provider answer that declares 1 GiB is a 502 at once, not a timeout.
func TestOpenAPIUpstreamDeclaresHugeAnswer(t *testing.T) {
	f := newFakeWeixin(t, boundedtest.Lying(t, "application/json"))
	h := newTestOpenAPI(t, f.srv.URL, func(h *openapi.OpenAPI, _ *Weixin) { h.Timeout = caddy.Duration(10 * time.Second) })
	// A read that waited would end in the timeout: 504, not this 502.
	a := callOpenAPI(t, h, postJSON("/urllink/generate", `{"path":"p"}`))
	if a.status != 502 || a.code != handlers.ErrUpstream || !strings.Contains(a.msg, "declares 1073741824 bytes") {
		t.Fatalf("got %d %s", a.status, a.raw)
	}
}
