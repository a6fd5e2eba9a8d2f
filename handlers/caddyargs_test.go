package handlers

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// subdirective is a dispenser on the name of the first subdirective of
// "host { <line> }".
func subdirective(t *testing.T, line string) *caddyfile.Dispenser {
	t.Helper()
	d := caddyfile.NewTestDispenser("host {\n" + line + "\n}")
	d.Next()
	if !d.NextBlock(0) {
		t.Fatalf("no subdirective in %q", line)
	}
	return d
}

func TestCaddyArgs(t *testing.T) {
	tests := []struct {
		name, line string
		read       func(d *caddyfile.Dispenser) (any, error)
		want       any
		err        string // "" for none; else a part of the error
	}{
		{"one", "app_id wx1", func(d *caddyfile.Dispenser) (any, error) { return OneArg(d) }, "wx1", ""},
		{"one none", "app_id", func(d *caddyfile.Dispenser) (any, error) { return OneArg(d) }, nil, "wrong argument count"},
		{"one two", "app_id a b", func(d *caddyfile.Dispenser) (any, error) { return OneArg(d) }, nil, "wrong argument count"},
		{"string", "app_id wx1", func(d *caddyfile.Dispenser) (any, error) {
			var s string
			err := StringArg(d, &s)
			return s, err
		}, "wx1", ""},
		{"string twice", "app_id wx2", func(d *caddyfile.Dispenser) (any, error) {
			s := "wx1"
			return nil, StringArg(d, &s)
		}, nil, "app_id is given twice"},
		{"duration", "timeout 5s", func(d *caddyfile.Dispenser) (any, error) { return DurationArg(d) }, caddy.Duration(5e9), ""},
		{"duration days", "dedupe 1d", func(d *caddyfile.Dispenser) (any, error) { return DurationArg(d) }, caddy.Duration(24 * 3600e9), ""},
		{"duration zero", "timeout 0s", func(d *caddyfile.Dispenser) (any, error) { return DurationArg(d) }, nil, `timeout: "0s" is not a positive duration`},
		{"duration bad", "timeout soon", func(d *caddyfile.Dispenser) (any, error) { return DurationArg(d) }, nil, `timeout: "soon" is not a positive duration`},
		{"size bytes", "max_body 65536", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, int64(65536), ""},
		{"size KB", "max_body 64KB", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, int64(64000), ""},
		{"size MiB", "max_body 1MiB", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, int64(1 << 20), ""},
		{"size zero", "max_body 0", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, nil, `max_body: "0" is not a size`},
		{"size negative", "max_body -1", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, nil, `max_body: "-1" is not a size`},
		{"size huge", "max_body 100EB", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, nil, `max_body: "100EB" is not a size`},
		{"size word", "max_body big", func(d *caddyfile.Dispenser) (any, error) { return SizeArg(d) }, nil, `max_body: "big" is not a size`},
		{"flag", "sandbox", func(d *caddyfile.Dispenser) (any, error) { return nil, FlagArg(d) }, nil, ""},
		{"flag arg", "sandbox yes", func(d *caddyfile.Dispenser) (any, error) { return nil, FlagArg(d) }, nil, "wrong argument count"},
		{"platform key", "platform_key PUB_KEY_ID_1 MIIB", func(d *caddyfile.Dispenser) (any, error) {
			serial, key, err := PlatformKeyArgs(d)
			return serial + " " + key, err
		}, "PUB_KEY_ID_1 MIIB", ""},
		{"platform key alone", "platform_key PUB_KEY_ID_1", func(d *caddyfile.Dispenser) (any, error) {
			_, _, err := PlatformKeyArgs(d)
			return nil, err
		}, nil, "platform_key takes a serial (or PUB_KEY_ID_…) and a public key or certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read(subdirective(t, tt.line))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && got != tt.want {
				t.Fatalf("got %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}
