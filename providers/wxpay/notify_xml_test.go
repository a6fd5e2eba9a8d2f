package wxpay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-unicloud/unicloud/signing"
)

// refParseNotifyXML is the encoding/xml reader ParseNotifyXML replaced: the
// reference it must agree with (it may refuse more: attributes).
func refParseNotifyXML(data []byte, root string) (map[string]string, error) {
	if len(data) > maxNotifyXMLBytes {
		return nil, errors.New("xml: document too large")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	// No CharsetReader: a declared encoding other than UTF-8 is an error.
	// No Entity map: only the five predefined entities and character
	// references are known; anything else is a syntax error in strict mode.
	fields := make(map[string]string)
	var (
		depth    int    // 0 outside the root, 1 in the root, 2 in a field
		field    string // the field being read at depth 2
		value    []byte
		tokens   int
		rootSeen bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("xml: syntax error on line %d", se.Line)
			}
			return nil, errors.New("xml: unreadable document")
		}
		tokens++
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" || tokens != 1 {
				return nil, errors.New("xml: processing instructions are not allowed")
			}
		case xml.Directive:
			return nil, errors.New("xml: DOCTYPE and other directives are not allowed")
		case xml.Comment:
			// Ignored, wherever it is.
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, errors.New("xml: namespaced elements are not allowed")
			}
			switch depth {
			case 0:
				if rootSeen {
					return nil, errors.New("xml: more than one root element")
				}
				if t.Name.Local != root {
					return nil, fmt.Errorf("xml: root element is not <%s>", root)
				}
				rootSeen = true
			case 1:
				if _, dup := fields[t.Name.Local]; dup {
					return nil, fmt.Errorf("%w: %s", errXMLDuplicate, shortID(t.Name.Local))
				}
				if len(fields) >= maxNotifyXMLFields {
					return nil, errors.New("xml: too many fields")
				}
				field, value = t.Name.Local, value[:0]
			default:
				return nil, fmt.Errorf("xml: field %s holds an element", shortID(field))
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				fields[field] = string(value)
			}
		case xml.CharData:
			if depth == 2 {
				value = append(value, t...)
			} else if len(bytes.TrimLeft(t, " \t\r\n")) != 0 {
				return nil, errors.New("xml: text outside the fields")
			}
		}
	}
	if !rootSeen {
		return nil, fmt.Errorf("xml: no <%s> element", root)
	}
	return fields, nil
}

var notifyXMLSeeds = []string{
	`<xml><return_code><![CDATA[SUCCESS]]></return_code><appid><![CDATA[wx1]]></appid><total_fee>1</total_fee><sign>AB</sign></xml>`,
	`<?xml version="1.0" encoding="UTF-8"?><xml><a><![CDATA[1]]></a><b>2</b></xml>`,
	"<xml>\n  <a> spaced </a>\r\n  <b>one\r\ntwo</b>\n</xml>\n",
	"<xml><a>&#x4e2d;&lt;&amp;</a><!-- c --><b><![CDATA[x]]>y<!-- c -->z</b></xml>",
	`<xml/>`, `<xml> </xml>`, `<xml><a/><b></b></xml>`,
	`<root><out_refund_no>r1</out_refund_no></root>`,
	`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`,
	`<xml><a><b/></a></xml>`, `<xml><a>1</a><a>2</a></xml>`, `<xml>oops<a>1</a></xml>`, `<xml>oops</xml>`,
	`<xml><x:a>1</x:a></xml>`, `<xml><a>1</a></xml><xml/>`, `<xml><?php ?><a>1</a></xml>`,
	`<?xml version="1.0" encoding="GBK"?><xml/>`, "<xml><a>\xff</a></xml>", `<xml><a>&bogus;</a></xml>`,
	" <?xml version=\"1.0\"?><xml/>", "<xml><a>]]></a></xml>", `<xml><a b="1">v</a></xml>`,
}

// TestParseNotifyXMLAgreesWithEncodingXML: what the wxxml reader accepts,
// the encoding/xml reader accepted too, with the same fields and values;
// what encoding/xml refused, it refuses.
func TestParseNotifyXMLAgreesWithEncodingXML(t *testing.T) {
	for _, doc := range notifyXMLSeeds {
		for _, root := range []string{"xml", "root"} {
			checkNotifyXML(t, []byte(doc), root)
		}
	}
}

func checkNotifyXML(t *testing.T, doc []byte, root string) {
	t.Helper()
	got, err := ParseNotifyXML(doc, root)
	want, wantErr := refParseNotifyXML(doc, root)
	switch {
	case err == nil && wantErr != nil:
		t.Fatalf("%q: accepted what encoding/xml refused (%v): %v", doc, wantErr, got)
	case err == nil && !maps.Equal(got, want):
		t.Fatalf("%q:\n got %v\nwant %v", doc, got, want)
	case err != nil && wantErr == nil && !bytes.Contains(doc, []byte("=")) && !bytes.Contains(doc, []byte("<?")) && !forbiddenChar(doc):
		// Only attributes (name="value"), processing instructions and
		// declarations encoding/xml reads loosely (<?xml?> without a
		// version), and characters XML forbids (which encoding/xml lets
		// through inside comments) may be refused beyond the reference.
		t.Fatalf("%q: refused what encoding/xml accepted: %v", doc, err)
	case errors.Is(wantErr, errXMLDuplicate) && !errors.Is(err, errXMLDuplicate) && wellFormed(doc):
		// (encoding/xml reads as it goes: it may see the duplicate before
		// the document turns out malformed, which wxxml reports first.)
		t.Fatalf("%q: a duplicate field is %v, want errXMLDuplicate", doc, err)
	}
	if err != nil && strings.Contains(err.Error(), "passwd") {
		t.Fatalf("%q: the error echoes the document: %v", doc, err)
	}
}

// forbiddenChar tells whether doc holds a character outside XML 1.0's Char
// production (control bytes, invalid UTF-8, U+FFFE, U+FFFF).
func forbiddenChar(doc []byte) bool {
	for len(doc) > 0 {
		r, n := utf8.DecodeRune(doc)
		doc = doc[n:]
		switch {
		case r == utf8.RuneError && n == 1:
			return true
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return true
		}
	}
	return false
}

func wellFormed(doc []byte) bool {
	_, err := notifyXMLLimits.Parse(doc)
	return err == nil
}

func FuzzParseNotifyXMLAgrees(f *testing.F) {
	for _, s := range notifyXMLSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkNotifyXML(t, doc, "xml") })
}

// BenchmarkNotifyXMLVsMD5 sets the parse of a signed v2 notification
// beside the MD5 check of its fields (the goal: verifying a notification,
// BenchmarkNotifyV2MD5, in at most three times the MD5 cost).
func BenchmarkNotifyXMLVsMD5(b *testing.B) {
	params := map[string]string{
		"appid": "wx2421b1c4370ec43b", "attach": "支付测试", "bank_type": "CFT", "fee_type": "CNY", "is_subscribe": "Y",
		"mch_id": "10000100", "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c", "openid": "oUpF8uMEb4qRXf22hE3X68TekukE",
		"out_trade_no": "1409811653", "result_code": "SUCCESS", "return_code": "SUCCESS", "sub_mch_id": "10000100",
		"time_end": "20140903131540", "total_fee": "1", "coupon_fee": "10", "coupon_count": "1", "coupon_type": "CASH",
		"coupon_id": "10000", "trade_type": "JSAPI", "transaction_id": "1004400740201409030005092168",
	}
	const key = "192006250b4c09247ec02edce69f6a2d"
	params["sign"], _ = signing.WxpayV2Sign(params, key, signing.SignTypeMD5)
	var doc bytes.Buffer
	doc.WriteString("<xml>")
	for k, v := range params {
		fmt.Fprintf(&doc, "<%s><![CDATA[%s]]></%s>", k, v, k)
	}
	doc.WriteString("</xml>")
	body := doc.Bytes()
	b.Run("parse_wxxml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseNotifyXML(body, "xml"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse_encoding_xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := refParseNotifyXML(body, "xml"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("md5_verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := signing.WxpayV2Verify(params, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
