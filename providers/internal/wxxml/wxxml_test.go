package wxxml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const pushXML = `<xml>
  <ToUserName><![CDATA[gh_9df7d78a1234]]></ToUserName>
  <FromUserName><![CDATA[o4_t144jTUSEoxydysUA2E234_tc]]></FromUserName>
  <CreateTime>1626959646</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[a < b & "c"]]></Content>
  <MsgId>7234567890123456789</MsgId>
</xml>`

func TestParsePush(t *testing.T) {
	root, err := Parse([]byte(pushXML))
	if err != nil {
		t.Fatal(err)
	}
	if root.Name != "xml" || len(root.Children) != 6 || root.Text != "" {
		t.Fatalf("root: %+v", root)
	}
	want := map[string]string{
		"ToUserName": "gh_9df7d78a1234", "CreateTime": "1626959646",
		"Content": `a < b & "c"`, "MsgId": "7234567890123456789",
	}
	for k, v := range want {
		if c := root.Child(k); c == nil || c.Text != v {
			t.Errorf("%s = %+v, want %q", k, c, v)
		}
	}
	if root.Child("Nope") != nil {
		t.Error("Child of a missing name")
	}
}

func TestParseTexts(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`<a>x &lt;&gt;&amp;&apos;&quot; &#65;&#x42;</a>`, `x <>&'" AB`},
		{"<a>one\r\ntwo\rthree</a>", "one\ntwo\nthree"},
		{"<a><![CDATA[one\r\n]]>&amp;<![CDATA[&amp;]]></a>", "one\n&&amp;"},
		{`<a><!-- c --> x </a>`, " x "},
		{`<a/>`, ""},
		{`<a></a>`, ""},
		{`<?xml version="1.0" encoding="UTF-8"?><a>v</a>`, "v"},
		{"  <a >é</a >\n", "é"},
	}
	for _, c := range cases {
		root, err := Parse([]byte(c.doc))
		if err != nil {
			t.Errorf("%q: %v", c.doc, err)
			continue
		}
		if root.Text != c.want {
			t.Errorf("%q: text %q, want %q", c.doc, root.Text, c.want)
		}
	}
}

func TestParseNested(t *testing.T) {
	root, err := Parse([]byte(`<xml><A><B>1</B><B>2</B></A><C> <D/> </C></xml>`))
	if err != nil {
		t.Fatal(err)
	}
	a := root.Child("A")
	if a == nil || len(a.Children) != 2 || a.Children[1].Text != "2" {
		t.Fatalf("A: %+v", a)
	}
	if c := root.Child("C"); c == nil || len(c.Children) != 1 || c.Text != "" {
		t.Fatalf("C: %+v", c)
	}
}

func TestParseRefusals(t *testing.T) {
	cases := []struct {
		doc  string
		want error
	}{
		{`<!DOCTYPE xml [<!ENTITY x "y">]><xml>&x;</xml>`, ErrDTD},
		{`<xml><!ENTITY x "y"></xml>`, ErrDTD},
		{`<xml><a><!DOCTYPE a></a></xml>`, ErrDTD},
		{`<?xml-stylesheet href="a"?><xml/>`, ErrSyntax},
		{`<xml><?php echo 1 ?></xml>`, ErrSyntax},
		{`<?xml version="1.0" encoding="GBK"?><xml/>`, ErrSyntax},
		{`<?xml version="1.1"?><xml/>`, ErrSyntax},
		{`<xml a="1"/>`, ErrSyntax},
		{`<xml>text<a/></xml>`, ErrSyntax},
		{`<xml><a></b></xml>`, ErrSyntax},
		{`<xml><a>`, ErrSyntax},
		{`<xml>&x;</xml>`, ErrSyntax},
		{`<xml>&#0;</xml>`, ErrSyntax},
		{`<xml>&amp</xml>`, ErrSyntax},
		{"<xml>\x01</xml>", ErrSyntax},
		{"<xml>\xff</xml>", ErrSyntax},
		{`<xml/><xml/>`, ErrSyntax},
		{`<xml/>junk`, ErrSyntax},
		{`junk`, ErrSyntax},
		{``, ErrSyntax},
		{`<xml><!-- a -- b --></xml>`, ErrSyntax},
		{`<xml><![CDATA[x</xml>`, ErrSyntax},
		{`<1a/>`, ErrSyntax},
		{`<é/>`, ErrSyntax},
		{strings.Repeat("<a>", 17) + strings.Repeat("</a>", 17), ErrTooLarge},
	}
	for _, c := range cases {
		root, err := Parse([]byte(c.doc))
		if !errors.Is(err, c.want) || root != nil {
			t.Errorf("%q: err %v, want %v", c.doc, err, c.want)
		}
	}
	many := "<xml>" + strings.Repeat("<a/>", 10) + "</xml>"
	if _, err := (Limits{MaxElements: 10}).Parse([]byte(many)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("11 elements with MaxElements 10: %v", err)
	}
	if _, err := (Limits{MaxElements: 11}).Parse([]byte(many)); err != nil {
		t.Errorf("11 elements with MaxElements 11: %v", err)
	}
}

// leaves lists "path=text" for every leaf, in document order.
func leaves(e *Element, path string, out []string) []string {
	p := path + "/" + e.Name
	if len(e.Children) == 0 {
		return append(out, p+"="+e.Text)
	}
	for i := range e.Children {
		out = leaves(&e.Children[i], p, out)
	}
	return out
}

// stdLeaves is leaves as encoding/xml reads the document.
func stdLeaves(doc []byte) ([]string, error) {
	d := xml.NewDecoder(strings.NewReader(string(doc)))
	type frame struct {
		path     string
		text     strings.Builder
		children bool
	}
	var stack []*frame
	var out []string
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path := ""
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.children = true
				path = top.path
			}
			stack = append(stack, &frame{path: path + "/" + t.Name.Local})
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !top.children {
				out = append(out, top.path+"="+top.text.String())
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
}

func TestAgreesWithEncodingXML(t *testing.T) {
	for _, doc := range seeds {
		root, err := Parse([]byte(doc))
		if err != nil {
			continue
		}
		want, err := stdLeaves([]byte(doc))
		if err != nil {
			t.Fatalf("%q: encoding/xml refuses what wxxml accepts: %v", doc, err)
		}
		if got := leaves(root, "", nil); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%q:\n got %q\nwant %q", doc, got, want)
		}
	}
}

var seeds = []string{
	pushXML,
	`<xml><A><B>1</B><B>2</B></A><C> <D/> </C></xml>`,
	`<a>x &lt;&gt;&amp;&apos;&quot; &#65;&#x42;</a>`,
	"<a>one\r\ntwo\rthree</a>",
	"<a><![CDATA[one\r\n]]>&amp;<![CDATA[&amp;]]></a>",
	`<?xml version="1.0" encoding="UTF-8"?><a>v</a>`,
	`<xml><return_code><![CDATA[SUCCESS]]></return_code><total_fee>1</total_fee></xml>`,
	`<!DOCTYPE xml [<!ENTITY x "y">]><xml>&x;</xml>`,
	`<xml><a><!-- c --></a></xml>`,
	"<xml><a>\u00e9\u4e2d</a></xml>",
}

// FuzzParse: whatever wxxml accepts, encoding/xml accepts too and reads the
// same leaves with the same texts; nothing wxxml accepts has a DOCTYPE.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		root, err := Parse(doc)
		if err != nil {
			if root != nil {
				t.Fatal("an error with a root")
			}
			return
		}
		if strings.Contains(string(doc), "<!DOCTYPE") || strings.Contains(string(doc), "<!ENTITY") {
			if !strings.Contains(string(doc), "<![CDATA[") {
				t.Fatalf("accepted a declaration: %q", doc)
			}
		}
		want, err := stdLeaves(doc)
		if err != nil {
			t.Fatalf("encoding/xml refuses what wxxml accepts: %v\n%q", err, doc)
		}
		if got := leaves(root, "", nil); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("leaves differ for %q:\n got %q\nwant %q", doc, got, want)
		}
	})
}

// leafOf is what Leaf returns, computed with Parse.
func leafOf(doc []byte, name string) (string, bool, error) {
	root, err := Parse(doc)
	if err != nil {
		return "", false, err
	}
	if c := root.Child(name); c != nil && len(c.Children) == 0 {
		return c.Text, true, nil
	}
	return "", false, nil
}

// TestLeafAgreesWithParse: Leaf refuses every document Parse refuses, with
// the same error, and otherwise finds the same leaf.
func TestLeafAgreesWithParse(t *testing.T) {
	docs := append([]string{}, seeds...)
	docs = append(docs,
		`<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>`,
		`<xml><ToUserName>x</ToUserName><Encrypt> abc </Encrypt><Encrypt>second</Encrypt></xml>`,
		`<xml><Encrypt><a>1</a></Encrypt></xml>`,
		`<xml><Encrypt/></xml>`,
		`<xml>Encrypt</xml>`,
		`<xml><a><Encrypt>nested</Encrypt></a></xml>`,
		`<xml><Encrypt>x</Encrypt>text</xml>`,
		`<xml><Encrypt>x</Encrypt><!DOCTYPE a></xml>`,
		`<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>`,
		`<xml><Encrypt>x</Encrypt><b a="1"/></xml>`,
		`<xml><Encrypt>x</Encrypt></xml><junk/>`,
		strings.Repeat("<a>", 17)+strings.Repeat("</a>", 17),
	)
	for _, doc := range docs {
		for _, name := range []string{"Encrypt", "a", "MsgType"} {
			wText, wFound, wErr := leafOf([]byte(doc), name)
			for _, leaf := range []func([]byte, string) (string, bool, error){Leaf, LeafOwned} {
				text, found, err := leaf([]byte(doc), name)
				if fmt.Sprint(err) != fmt.Sprint(wErr) || text != wText || found != wFound {
					t.Errorf("%q %s: Leaf (%q, %v, %v), Parse (%q, %v, %v)", doc, name, text, found, err, wText, wFound, wErr)
				}
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	doc := []byte(pushXML)
	b.Run("wxxml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdLeaves(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPrintableASCII8 checks the eight-byte fast path against the byte
// test, every byte value at every position.
func TestPrintableASCII8(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			b := []byte("AAAAAAAA")
			b[pos] = byte(c)
			want := c >= 0x20 && c < 0x80
			if got := printableASCII8(string(b)); got != want {
				t.Fatalf("byte %#x at %d: %v, want %v", c, pos, got, want)
			}
		}
	}
	for _, s := range []string{"\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f", "\x00\xff\x00\xff\x00\xff\x00\xff", "        ", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"} {
		if got, want := printableASCII8(s), s[0] == ' ' || s[0] == 0x7f; got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}

// TestVisitOwnedAgrees: VisitOwned reads every document as Parse does, and
// the strings it hands out survive the reuse of its scratch.
func TestVisitOwnedAgrees(t *testing.T) {
	for _, doc := range append(seeds, `<xml><a>1</b></xml>`, `<!DOCTYPE x><xml/>`) {
		want, wantErr := Parse([]byte(doc))
		var got []string
		err := VisitOwned([]byte(doc), func(root *Element) error {
			got = leaves(root, "", nil)
			return nil
		})
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("%q: %v, want %v", doc, err, wantErr)
		}
		_ = VisitOwned([]byte(pushXML), func(*Element) error { return nil }) // reuses the scratch
		if err == nil && strings.Join(got, "\x00") != strings.Join(leaves(want, "", nil), "\x00") {
			t.Fatalf("%q: leaves differ: %q", doc, got)
		}
	}
	sentinel := errors.New("from fn")
	if err := VisitOwned([]byte(pushXML), func(*Element) error { return sentinel }); err != sentinel {
		t.Fatalf("fn's error: %v", err)
	}
}

// Child returns the first child named name, or nil.
func (e *Element) Child(name string) *Element {
	for i := range e.Children {
		if e.Children[i].Name == name {
			return &e.Children[i]
		}
	}
	return nil
}
