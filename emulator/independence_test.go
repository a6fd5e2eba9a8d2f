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

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 1: "0.01", 10: "0.10", 99: "0.99", 100: "1.00", 101: "1.01", 123456: "1234.56", 10_000_000_000: "100000000.00", -5: "-0.05"} {
		if got := yuan(fen); got != want {
			t.Errorf("yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}

func TestParseYuan(t *testing.T) {
	for s, want := range map[string]int64{"0.01": 1, "0.1": 10, "5": 500, "12.34": 1234, "0": 0, "100000000.00": 10_000_000_000} {
		if got, ok := parseYuan(s); !ok || got != want {
			t.Errorf("parseYuan(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", ".", "5.", ".5", "1.234", "-1", "+1", "01", " 1", "1 ", "1e2", "1,00", "100000000.01", "9999999999", "0x10", "1.2a"} {
		if got, ok := parseYuan(s); ok {
			t.Errorf("parseYuan(%q) = %d, accepted", s, got)
		}
	}
}

func TestWxpayXML(t *testing.T) {
	fields := map[string]string{"return_code": "SUCCESS", "total_fee": "101", "attach": "a]]>b<&", "empty": "", "body": "商品"}
	body := wxpayXML(fields)
	if want := `<xml><attach>a]]&gt;b&lt;&amp;</attach><body><![CDATA[商品]]></body><empty><![CDATA[]]></empty><return_code><![CDATA[SUCCESS]]></return_code><total_fee>101</total_fee></xml>`; string(body) != want {
		t.Fatalf("wxpayXML = %s\nwant %s", body, want)
	}
	got, err := readWxpayXML(body)
	if err != nil || len(got) != len(fields) {
		t.Fatalf("readWxpayXML = %v, %v", got, err)
	}
	for k, v := range fields {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for name, doc := range map[string]string{
		"doctype":      `<!DOCTYPE xml [<!ENTITY x "y">]><xml><a>&x;</a></xml>`,
		"other root":   `<root><a>1</a></root>`,
		"twice":        `<xml><a>1</a><a>2</a></xml>`,
		"nested":       `<xml><a><b>1</b></a></xml>`,
		"unknown ref":  `<xml><a>&x;</a></xml>`,
		"not xml":      `{"a":1}`,
		"unterminated": `<xml><a>1</a>`,
	} {
		if f, err := readWxpayXML([]byte(doc)); err == nil {
			t.Errorf("%s: accepted as %v", name, f)
		}
	}
}
