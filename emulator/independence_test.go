package emulator

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEmulatorImportsNoProductCode keeps the emulator independent of the
// gateway it stands in front of: none of its files may import providers/
// or handlers/ (signing/ and casing/ are fine, the published vectors prove
// them). Were the emulator built on the gateway's own code, a bug there
// would be the same on both sides and every offline test would still pass.
// Its tests drive it with their own small clients (client_*_test.go) for
// the same reason.
func TestEmulatorImportsNoProductCode(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files found: %v", err)
	}
	const module = "github.com/caddy-unicloud/unicloud/"
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		forbidden := []string{module + "handlers", module + "providers"}
		if !strings.HasSuffix(name, "_test.go") {
			forbidden = append(forbidden, module+"internal")
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s: the emulator keeps its own implementation of the providers' side", name, path)
				}
			}
		}
	}
}
