package emulator_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	_ "github.com/caddy-unicloud/unicloud"
)

// TestCaddyfileAdapt adapts each testdata/*.caddyfiletest (a Caddyfile, a
// line "----------", then the expected JSON, or a part of the expected
// error) as Caddy's own adapt tests do.
func TestCaddyfileAdapt(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no testdata/*.caddyfiletest")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(raw), "----------")
			if !ok {
				t.Fatal("no ---------- line")
			}
			expected = strings.TrimSpace(expected)
			if expected == "" {
				t.Fatal("nothing expected after ----------")
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(strings.TrimSpace(caddyfile)+"\n"), nil)
			if !strings.HasPrefix(expected, "{") {
				if err == nil || !strings.Contains(err.Error(), expected) {
					t.Fatalf("error %v, want one containing %q", err, expected)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warnings {
				t.Errorf("warning: line %d: %s: %s", w.Line, w.Directive, w.Message)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			if got := pretty.String(); got != expected {
				t.Errorf("adapted JSON differs; got:\n%s", got)
			}
		})
	}
}
