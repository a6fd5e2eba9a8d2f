package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// testGuest keeps the subdirectives it is given, nested blocks included.
type testGuest struct {
	Lines []string `json:"lines,omitempty"`
}

func (testGuest) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "unicloud.test.providers.echo", New: func() caddy.Module { return new(testGuest) }}
}

func (g *testGuest) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		line := strings.Join(append([]string{d.Val()}, d.RemainingArgs()...), " ")
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			line += " {" + strings.Join(append([]string{d.Val()}, d.RemainingArgs()...), " ") + "}"
		}
		g.Lines = append(g.Lines, line)
	}
	return nil
}

func init() { caddy.RegisterModule(testGuest{}) }

func TestSplitBlockAndLoadGuest(t *testing.T) {
	for _, tc := range []struct {
		name, in        string
		wantHost        []string
		wantJSON, wantE string
	}{
		{
			name:     "host and guest subdirectives interleaved, nested block kept",
			in:       "unicloud_x echo {\n\ttimeout 3s\n\tkey a b\n\tnested {\n\t\tinner 1\n\t}\n\tmax_body 1KB\n\tlast\n}",
			wantHost: []string{"timeout 3s", "max_body 1KB"},
			wantJSON: `{"lines":["key a b","nested {inner 1}","last"],"name":"echo"}`,
		},
		{
			name:     "no block",
			in:       "unicloud_x echo",
			wantJSON: `{"name":"echo"}`,
		},
		{
			name:     "only host subdirectives",
			in:       "unicloud_x echo {\n\ttimeout 3s\n}",
			wantHost: []string{"timeout 3s"},
			wantJSON: `{"name":"echo"}`,
		},
		{name: "no provider", in: "unicloud_x", wantE: "needs a provider"},
		{name: "two providers", in: "unicloud_x echo other", wantE: "wrong argument count"},
		{name: "unknown provider", in: "unicloud_x nope {\n\tkey a\n}", wantE: `unknown provider "nope": echo`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.in)
			var host []string
			name, g, err := SplitBlock(d, func(d *caddyfile.Dispenser, dir string) (bool, error) {
				if dir != "timeout" && dir != "max_body" {
					return false, nil
				}
				host = append(host, strings.Join(append([]string{dir}, d.RemainingArgs()...), " "))
				return true, nil
			})
			var raw json.RawMessage
			if err == nil {
				raw, err = LoadGuest(d, g, "unicloud.test.providers", name, "echo")
			}
			if tc.wantE != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantE) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantE)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(host, "|") != strings.Join(tc.wantHost, "|") {
				t.Errorf("host got %q, want %q", host, tc.wantHost)
			}
			if string(raw) != tc.wantJSON {
				t.Errorf("guest JSON %s, want %s", raw, tc.wantJSON)
			}
		})
	}
}
