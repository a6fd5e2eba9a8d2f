package unicloud

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// xcaddy.json lists every module the plugin registers: hosts and guests.
func TestXcaddyManifestListsEveryModule(t *testing.T) {
	raw, err := os.ReadFile("xcaddy.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Plugins []struct {
			Module  string   `json:"module"`
			Modules []string `json:"modules"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Plugins) != 1 || manifest.Plugins[0].Module != "github.com/caddy-unicloud/unicloud" {
		t.Fatalf("xcaddy.json plugins: %+v", manifest.Plugins)
	}
	var registered []string
	for _, id := range caddy.Modules() {
		if strings.HasPrefix(id, "http.handlers.unicloud_") || strings.HasPrefix(id, "unicloud.") {
			registered = append(registered, id)
		}
	}
	listed := slices.Clone(manifest.Plugins[0].Modules)
	slices.Sort(registered)
	slices.Sort(listed)
	if !slices.Equal(registered, listed) {
		t.Errorf("xcaddy.json lists\n%q\nthe plugin registers\n%q", listed, registered)
	}
}
