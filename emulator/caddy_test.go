package emulator

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
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
		if err := h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/cgi-bin/stable_token", body), nil); err != nil {
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
