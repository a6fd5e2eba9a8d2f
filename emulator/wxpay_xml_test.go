package emulator

import "testing"

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
	// What a client may send: a "]]>" split over two CDATA sections,
	// entities, an XML declaration, blanks between fields.
	if f, err := readWxpayXML([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n <a><![CDATA[x]]]]><![CDATA[>y]]></a>\n <b>1 &lt; 2</b></xml>")); err != nil || f["a"] != "x]]>y" || f["b"] != "1 < 2" {
		t.Errorf("readWxpayXML = %q, %v", f, err)
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
