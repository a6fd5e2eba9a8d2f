package unicloud

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var updateGolden = flag.Bool("update", false, "rewrite the expected JSON of the Caddyfile golden files")

// TestCaddyfileGolden adapts each testdata/*/*.caddyfiletest: a Caddyfile, a
// line "----------", then the expected JSON, or a part of the expected
// error (as Caddy's and caddy-l4's adapt tests are kept).
func TestCaddyfileGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no testdata/*/*.caddyfiletest")
	}
	for _, file := range files {
		t.Run(strings.TrimPrefix(file, "testdata/"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(raw), "----------")
			if !ok {
				t.Fatal("no ---------- line")
			}
			expected = strings.TrimSpace(expected)
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(strings.TrimSpace(caddyfile)+"\n"), nil)
			if expected != "" && !strings.HasPrefix(expected, "{") {
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
			got := pretty.String()
			if *updateGolden {
				if err := os.WriteFile(file, []byte(strings.TrimSpace(caddyfile)+"\n----------\n"+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != expected {
				t.Errorf("adapted JSON differs; got:\n%s", got)
			}
		})
	}
}
