package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// testHost loads a guest of unicloud.test.providers, as the hosts do.
type testHost struct {
	ProviderRaw json.RawMessage `json:"provider,omitempty" caddy:"namespace=unicloud.test.providers inline_key=name"`
}

type liner interface{ lines() []string }

func (g *testGuest) lines() []string { return g.Lines }

type notImplemented interface{ Missing() }

func TestProvisionGuest(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	h := &testHost{ProviderRaw: json.RawMessage(`{"name":"echo","lines":["a b"]}`)}
	p, err := ProvisionGuest[liner](ctx, h, "unicloud_test", "a test provider")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.lines(); len(got) != 1 || got[0] != "a b" {
		t.Fatalf("guest's lines %v, want [a b]", got)
	}

	h = &testHost{ProviderRaw: json.RawMessage(`{"name":"echo"}`)}
	_, err = ProvisionGuest[notImplemented](ctx, h, "unicloud_test", "a test provider")
	if err == nil || err.Error() != "unicloud_test: module *handlers.testGuest is not a test provider" {
		t.Fatalf("error %v, want the module named as not a test provider", err)
	}

	h = &testHost{ProviderRaw: json.RawMessage(`{"name":"notthere"}`)}
	_, err = ProvisionGuest[liner](ctx, h, "unicloud_test", "a test provider")
	if err == nil || !strings.HasPrefix(err.Error(), "unicloud_test: loading the provider: ") {
		t.Fatalf("error %v, want the loading error after the directive", err)
	}
}
