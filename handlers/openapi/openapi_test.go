package openapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-unicloud/unicloud/handlers"
)

func init() {
	caddy.RegisterModule(fakeProvider{})
}

// fakeProvider is a guest that serves a.b (alias a.alias), x.y.z and
// secret.get (off by default) by echoing the API name and the body it
// read.
type fakeProvider struct {
	settings Settings
}

func (fakeProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "unicloud.openapi.providers.test_fake", New: func() caddy.Module { return new(fakeProvider) }}
}

func (p *fakeProvider) Describe(s Settings) Info {
	p.settings = s
	return Info{
		Name:    "test_fake",
		APIs:    []API{{Name: "a.b", Aliases: []string{"a.alias"}}, {Name: "x.y.z"}, {Name: "secret.get", OffByDefault: true}},
		MaxBody: 16,
		Suggest: func(name string) (string, bool) { return "a.b", name == "a.c" },
	}
}

func (p *fakeProvider) Serve(ctx context.Context, w http.ResponseWriter, r *http.Request, api string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		return "", handlers.NewError(500, "NO_DEADLINE", "ctx has no deadline")
	}
	var body []byte
	if r.Method == http.MethodPost {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return "", handlers.BodyError(err)
		}
	}
	out, _ := json.Marshal(map[string]string{"api": api, "body": string(body)})
	handlers.WriteJSON(w, 200, out)
	return "ok", nil
}

func newHost(t *testing.T, h *OpenAPI) *OpenAPI {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h.ProviderRaw = caddyconfig.JSONModuleObject(struct{}{}, "name", "test_fake", nil)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

// The host's own answers are the same for every provider: the method, the
// API name from the path (slashes or dots, after an unstripped prefix), the
// allow list over names and aliases, max_body, the GET-body warning.
func TestHostServe(t *testing.T) {
	open := newHost(t, &OpenAPI{})
	allowAlias := newHost(t, &OpenAPI{Allow: []string{"a.alias", "secret.*"}})
	for name, tc := range map[string]struct {
		h       *OpenAPI
		method  string
		path    string
		body    string
		status  int
		code    string // errCode of a refusal
		msg     string
		api     string // API served
		warning bool
	}{
		"slashes":             {h: open, method: "POST", path: "/a/b", status: 200, api: "a.b"},
		"dots":                {h: open, method: "POST", path: "/a.b", status: 200, api: "a.b"},
		"alias":               {h: open, method: "POST", path: "/a/alias", status: 200, api: "a.b"},
		"route prefix":        {h: open, method: "POST", path: "/wx/v1/a/b", status: 200, api: "a.b"},
		"three parts":         {h: open, method: "POST", path: "/pre/x/y.z", status: 200, api: "x.y.z"},
		"GET":                 {h: open, method: "GET", path: "/a/b?k=v", status: 200, api: "a.b"},
		"HEAD":                {h: open, method: "HEAD", path: "/a/b", status: 405},
		"PUT":                 {h: open, method: "PUT", path: "/a/b", status: 405, code: handlers.ErrBadRequest, msg: "calls are GET or POST requests"},
		"unknown":             {h: open, method: "POST", path: "/q/r", status: 404, code: handlers.ErrAPINotFound, msg: "unknown API: q/r"},
		"suggested":           {h: open, method: "POST", path: "/a/c", status: 404, code: handlers.ErrAPINotFound, msg: "unknown API: a/c (did you mean a.b?)"},
		"off by default":      {h: open, method: "POST", path: "/secret/get", status: 403, code: handlers.ErrAPINotAllowed, msg: "API not allowed: secret.get"},
		"allowed by alias":    {h: allowAlias, method: "POST", path: "/a/b", status: 200, api: "a.b"},
		"allowed by glob":     {h: allowAlias, method: "POST", path: "/secret/get", status: 200, api: "secret.get"},
		"not in allow":        {h: allowAlias, method: "POST", path: "/x/y/z", status: 403, code: handlers.ErrAPINotAllowed, msg: "API not allowed: x.y.z"},
		"body within max":     {h: open, method: "POST", path: "/a/b", body: "0123456789abcdef", status: 200, api: "a.b"},
		"body over max":       {h: open, method: "POST", path: "/a/b", body: "0123456789abcdefg", status: 413, code: handlers.ErrBodyTooLarge, msg: "request body larger than max_body (16 bytes)"},
		"GET body is ignored": {h: open, method: "GET", path: "/a/b", body: "{}", status: 200, api: "a.b", warning: true},
	} {
		t.Run(name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			w := httptest.NewRecorder()
			if err := tc.h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, body), nil); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("X-Unicloud-Warning") != ""; got != tc.warning {
				t.Fatalf("warning %q", w.Header().Get("X-Unicloud-Warning"))
			}
			var m map[string]string
			if tc.method != "HEAD" {
				if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
					t.Fatalf("answer %q: %v", w.Body, err)
				}
			}
			if tc.code != "" && (m["errCode"] != tc.code || m["errMsg"] != tc.msg) {
				t.Fatalf("answer %v, want %s %q", m, tc.code, tc.msg)
			}
			if tc.api != "" && (m["api"] != tc.api || tc.method == "POST" && m["body"] != tc.body) {
				t.Fatalf("served %v, want %s", m, tc.api)
			}
		})
	}
	if got := open.provider.(*fakeProvider).settings.Timeout; got != DefaultTimeout {
		t.Fatalf("the provider was given the timeout %v", got)
	}
}

func TestResolveAllow(t *testing.T) {
	apis := []API{{Name: "auth.code2Session", Aliases: []string{"auth.getOpenid"}}, {Name: "auth.getAccessToken", OffByDefault: true}, {Name: "urllink.generate"}}
	for name, tc := range map[string]struct {
		patterns []string
		want     string
	}{
		"default":           {nil, "auth.code2Session urllink.generate"},
		"glob":              {[]string{"auth.*"}, "auth.code2Session auth.getAccessToken"},
		"alias":             {[]string{"auth.getOpenid"}, "auth.code2Session"},
		"off by default":    {[]string{"auth.getAccessToken"}, "auth.getAccessToken"},
		"matches nothing":   {[]string{"phoneNumber.*"}, ""},
		"everything":        {[]string{"*"}, "auth.code2Session auth.getAccessToken urllink.generate"},
		"a part is no glob": {[]string{"auth"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			names, allow := resolveAllow(apis, tc.patterns)
			var got []string
			for _, a := range apis {
				if allow[a.Name] {
					got = append(got, a.Name)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("allowed %v, want %s", got, tc.want)
			}
			if names["auth.getOpenid"] != "auth.code2Session" || len(names) != 4 {
				t.Fatalf("names %v", names)
			}
		})
	}
}

// A path of many segments costs no more than a short one: only the last
// segments are looked at.
func BenchmarkLookupLongPath(b *testing.B) {
	h := &OpenAPI{names: map[string]string{"a.b": "a.b"}, maxParts: 2}
	p := strings.Repeat("/x", 10000) + "/a/b"
	for i := 0; i < b.N; i++ {
		if _, ok := h.lookup(p); !ok {
			b.Fatal("not found")
		}
	}
}
