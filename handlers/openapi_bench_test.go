package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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
