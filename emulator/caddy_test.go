package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestHandlerProvision(t *testing.T) {
	t.Setenv("UNICLOUD_EMULATOR_TEST_SECRET", "secret-from-env")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	newHandler := func() *Handler {
		h := &Handler{Config: Config{WeixinApps: map[string]string{testApp: "{env.UNICLOUD_EMULATOR_TEST_SECRET}"}}}
		if err := h.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Cleanup() })
		if err := h.Validate(); err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := newHandler()
	serve := func(h *Handler) int {
		body := bytes.NewReader(mustJSON(map[string]any{"grant_type": "client_credential", "appid": testApp, "secret": "secret-from-env"}))
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/cgi-bin/stable_token", body)
		r.RemoteAddr = "127.0.0.1:40000"
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte("access_token")) {
			t.Fatalf("stable_token with the secret from the environment: %d %s", w.Code, w.Body)
		}
		return h.Server().Stats().TokenIssues[testApp].Stable
	}
	serve(h)

	// A reload with the same configuration keeps the emulator's state.
	again := newHandler()
	if again.Server() != h.Server() {
		t.Error("the same configuration got a new emulator")
	}
	if n := serve(again); n != 2 {
		t.Errorf("stable token answers after reload = %d, want 2", n)
	}
}

func TestHandlerValidate(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	for name, cfg := range map[string]Config{
		"empty secret":  {WeixinApps: map[string]string{testApp: ""}},
		"appid twice":   {WeixinApps: map[string]string{testApp: "a"}, WeixinOfficialAccounts: map[string]string{testApp: "b"}},
		"empty env var": {WeixinApps: map[string]string{testApp: "{env.UNICLOUD_EMULATOR_UNSET_VARIABLE}"}},
	} {
		h := &Handler{Config: cfg}
		if err := h.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
		h.Cleanup()
	}
}

// provisioned returns h provisioned and validated, cleaned up with the test.
func provisioned(t *testing.T, h *Handler) *Handler {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandlerLoopbackOnly(t *testing.T) {
	cfg := Config{WeixinApps: map[string]string{testApp: testSecret}}
	stats := func(h *Handler, remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/_emulator/stats", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		return w
	}
	h := provisioned(t, &Handler{Config: cfg})
	for _, remote := range []string{"203.0.113.7:40000", "192.168.1.20:5000", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:80", "garbage"} {
		w := stats(h, remote)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "loopback clients only") || !strings.Contains(w.Body.String(), "allow_remote") {
			t.Errorf("client %s: %d %q, want 403 naming loopback and allow_remote", remote, w.Code, w.Body)
		}
	}
	if w := stats(h, "203.0.113.7:40000"); !strings.Contains(w.Body.String(), "203.0.113.7") {
		t.Errorf("403 does not name the client address: %q", w.Body)
	}
	for _, remote := range []string{"127.0.0.1:40000", "127.3.4.5:1", "[::1]:40000", "[::ffff:127.0.0.1]:80"} {
		if w := stats(h, remote); w.Code != http.StatusOK {
			t.Errorf("loopback client %s: %d %s", remote, w.Code, w.Body)
		}
	}

	open := provisioned(t, &Handler{Config: cfg, AllowRemote: true})
	if w := stats(open, "203.0.113.7:40000"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "calls") {
		t.Errorf("allow_remote: %d %s", w.Code, w.Body)
	}
}

func TestHandlerBackend(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := provisioned(t, &Handler{Backend: true})
	h.logger = zap.New(core)
	body := `{"provider":"wxpay","type":"payment","outTradeNo":"demo-1","totalFee":1}`
	r := httptest.NewRequest(http.MethodPost, "/notify/wxpay", strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Unicloud-Provider", "wxpay")
	r.Header.Set("X-Unicloud-Notify-Type", "payment")
	r.Header.Set("Authorization", "not logged")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusNoContent {
		t.Fatalf("backend answered %d, want 204", w.Code)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].Level != zap.InfoLevel {
		t.Fatalf("backend logged %v, want one INFO line", entries)
	}
	f := entries[0].ContextMap()
	got, _ := json.Marshal(f["body"])
	if string(got) != body {
		t.Errorf("logged body %s, want %s", got, body)
	}
	hdrs, _ := f["headers"].(map[string]string)
	if hdrs["X-Unicloud-Provider"] != "wxpay" || hdrs["X-Unicloud-Notify-Type"] != "payment" || len(hdrs) != 2 {
		t.Errorf("logged headers %v, want the two X-Unicloud-* ones only", f["headers"])
	}
	if f["uri"] != "/notify/wxpay" {
		t.Errorf("logged uri %v", f["uri"])
	}

	// The demo backend answers loopback clients only, too.
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.RemoteAddr = "198.51.100.1:5000"
	w = httptest.NewRecorder()
	_ = h.ServeHTTP(w, r, nil)
	if w.Code != http.StatusForbidden || logs.Len() != 1 {
		t.Errorf("remote client: %d, %d log lines", w.Code, logs.Len())
	}

	// backend is alone in its handler.
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mixed := &Handler{Backend: true, Config: Config{WeixinApps: map[string]string{testApp: testSecret}}}
	if err := mixed.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer mixed.Cleanup()
	if err := mixed.Validate(); err == nil || !strings.Contains(err.Error(), "backend takes no other option") {
		t.Errorf("backend with weixin_app: %v", err)
	}
}
