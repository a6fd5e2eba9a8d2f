package unicloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkGatewayVsReverseProxy is the side-by-side load comparison of the
// README's performance section: the same local upstream (a fake WeChat that
// answers urllink.generate) behind unicloud_openapi and behind plain
// reverse_proxy, in one Caddy, driven by parallel keep-alive clients.
// Compare the two ns/op (or run with -cpu and benchstat); the throughput
// ratio is reverse_proxy ns/op ÷ unicloud_openapi ns/op.
func BenchmarkGatewayVsReverseProxy(b *testing.B) {
	answer := []byte(`{"errcode":0,"errmsg":"ok","url_link":"https://wxaurl.cn/aBcDeFgHiJk"}`)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		if r.URL.Path == "/cgi-bin/stable_token" {
			_, _ = io.WriteString(w, `{"access_token":"bench-token","expires_in":7200}`)
			return
		}
		_, _ = w.Write(answer)
	}))
	defer upstream.Close()

	dir := b.TempDir()
	addr := freeAddr(b)
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id   wxbench000000001
			secret   bench-secret
			endpoint %s
		}
	}
	handle /wxa/* {
		reverse_proxy %s
	}
}
`, addr, upstream.URL, upstream.Listener.Addr().String())
	loadCaddy(b, cf)

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
		Timeout:   10 * time.Second,
	}
	body := []byte(`{"path":"pages/index/index","query":"a=1","isExpire":false}`)
	snake := []byte(`{"path":"pages/index/index","query":"a=1","is_expire":false}`)
	run := func(b *testing.B, url string, payload []byte) {
		// Warm up: the gateway's first call fetches the token.
		for i := 0; i < 10; i++ {
			post(b, client, url, payload)
		}
		b.ResetTimer()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post(b, client, url, payload)
			}
		})
	}
	b.Run("unicloud_openapi", func(b *testing.B) {
		run(b, "http://"+addr+"/wx/urllink/generate", body)
	})
	b.Run("reverse_proxy", func(b *testing.B) {
		run(b, "http://"+addr+"/wxa/generate_urllink?access_token=bench-token", snake)
	})
}

func post(b *testing.B, c *http.Client, url string, payload []byte) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(payload))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}
