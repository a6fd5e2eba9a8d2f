package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
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
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	h := &OpenAPI{Provider: "weixin", AppID: "wxbench", Secret: "s", Endpoint: upstream.URL}
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	defer h.Cleanup()
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

func TestOpenAPIValidate(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	t.Setenv("UNICLOUD_VALIDATE_SECRET", "")
	for name, tc := range map[string]struct {
		h    OpenAPI
		want string
	}{
		"ok":                 {OpenAPI{AppID: "wx1", Secret: "s"}, ""},
		"fixed token":        {OpenAPI{AppID: "wx1", AccessToken: "t"}, ""},
		"unset env secret":   {OpenAPI{AppID: "wx1", Secret: "{env.UNICLOUD_VALIDATE_SECRET}"}, "secret of app wx1 is empty"},
		"more apps":          {OpenAPI{AppID: "wx1", Secret: "s", Apps: []App{{AppID: "wx2"}}}, "secret of app wx2 is empty"},
		"h5 without secret":  {OpenAPI{AppID: "wx1", Secret: "s", H5AppID: "wxoa"}, "h5_secret"},
		"no app":             {OpenAPI{}, "app_id"},
		"bad endpoint":       {OpenAPI{AppID: "wx1", Secret: "s", Endpoint: "ftp://x"}, "endpoint"},
		"bad token mode":     {OpenAPI{AppID: "wx1", Secret: "s", TokenMode: "fast"}, "token_mode"},
		"allow_raw relative": {OpenAPI{AppID: "wx1", Secret: "s", AllowRaw: []string{"wxa/"}}, "allow_raw"},
	} {
		t.Run(name, func(t *testing.T) {
			h := tc.h
			if err := h.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			defer h.Cleanup()
			err := h.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}
