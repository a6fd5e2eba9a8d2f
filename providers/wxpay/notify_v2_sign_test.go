package wxpay

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/signing"
)

// TestV2SignFastAgreesWithSigning: the pooled sign check of a v2 notification
// accepts and refuses exactly what the signing package's does, with the same
// refusal, whatever the order of the fields in the document.
func TestV2SignFastAgreesWithSigning(t *testing.T) {
	const key = "192006250b4c09247ec02edce69f6a2d"
	v := &NotifyVerifier{Key: key}
	rng := rand.New(rand.NewPCG(1, 2))
	base := map[string]string{
		"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "5d2b6c2a8db53831",
		"out_trade_no": "1409811653", "total_fee": "1", "attach": "支付 <&>", "a_b": "x", "Z": "y", "empty": "",
	}
	md5Sign, _ := signing.WxpayV2Sign(base, key, signing.SignTypeMD5)
	hmacSign, _ := signing.WxpayV2Sign(base, key, signing.SignTypeHMACSHA256)
	withType := func(st string) map[string]string {
		m := map[string]string{}
		for k, x := range base {
			m[k] = x
		}
		m["sign_type"] = st
		return m
	}
	md5Typed, _ := signing.WxpayV2Sign(withType("MD5"), key, "MD5")
	hmacTyped, _ := signing.WxpayV2Sign(withType("HMAC-SHA256"), key, "HMAC-SHA256")
	cases := []struct{ signType, sign string }{
		{"", md5Sign}, {"", strings.ToLower(md5Sign)}, {"", hmacSign}, {"MD5", md5Typed},
		{"HMAC-SHA256", hmacTyped}, {"MD5", hmacTyped}, {"HMAC-SHA256", md5Typed}, {"", ""},
		{"", md5Sign[:31]}, {"", md5Sign[:30]}, {"", "zz" + md5Sign[2:]}, {"SHA1", md5Sign},
		{"", strings.Repeat("0", 32)}, {"", strings.Repeat("0", 64)}, {"md5", md5Sign},
	}
	for _, c := range cases {
		for range 10 {
			fields := map[string]string{}
			for k, x := range base {
				fields[k] = x
			}
			if c.signType != "" {
				fields["sign_type"] = c.signType
			}
			if c.sign != "" {
				fields["sign"] = c.sign
			}
			names := make([]string, 0, len(fields))
			for k := range fields {
				names = append(names, k)
			}
			rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
			var doc strings.Builder
			doc.WriteString("<xml>")
			for _, k := range names {
				doc.WriteString("<" + k + "><![CDATA[" + fields[k] + "]]></" + k + ">")
			}
			doc.WriteString("</xml>")

			sc := v2Scratches.Get().(*v2Scratch)
			if err := readNotifyXMLSorted([]byte(doc.String()), "xml", &sc.fields); err != nil {
				t.Fatal(err)
			}
			sc.dropEmpty()
			params := sc.toMap()
			sc.buf = appendV2SignString(sc.buf[:0], sc.fields, key)
			if got, want := string(sc.buf), signing.WxpayV2SignString(params, key); got != want {
				t.Fatalf("sign string %q, signing says %q", got, want)
			}
			fast, slow := v.verifyV2SignFast(sc), v.verifyV2Sign(params)
			sc.release()
			if (fast == nil) != (slow == nil) || fast != nil && fast.Error() != slow.Error() {
				t.Fatalf("sign_type %q sign %q: fast %v, signing %v", c.signType, c.sign, fast, slow)
			}
		}
	}
}

// TestReadNotifyXMLSortedAgreesWithParse: the map-free reader of the v2
// path refuses what ParseNotifyXML refuses, with the same message (the first
// refused field in document order), and otherwise gives its fields sorted.
func TestReadNotifyXMLSortedAgreesWithParse(t *testing.T) {
	for _, doc := range sortedReaderSeeds {
		checkSortedReader(t, doc)
	}
}

func FuzzReadNotifyXMLSorted(f *testing.F) {
	for _, doc := range sortedReaderSeeds {
		f.Add(doc)
	}
	f.Fuzz(checkSortedReader)
}

var sortedReaderSeeds = []string{
	"<xml></xml>", "<xml> </xml>", "<xml>x</xml>", "<root><a>1</a></root>",
	"<xml><b>2</b><a>1</a><c></c></xml>",
	"<xml><a>1</a><b>2</b><a>3</a></xml>",
	"<xml><a>1</a><a>2</a><x:b>3</x:b></xml>",
	"<xml><x:b>3</x:b><a>1</a><a>2</a></xml>",
	"<xml><a>1</a><b><c>1</c></b><a>2</a></xml>",
	"<xml><b>1</b><a>1</a><b>2</b><a>2</a></xml>",
	"<xml><a>1</a><b>2</b><b>3</b><a>3</a></xml>",
	"<!DOCTYPE x><xml><a>1</a></xml>",
	"<xml><a>&lt;1&gt;</a><b><![CDATA[<2>]]></b></xml>",
}

func checkSortedReader(t *testing.T, doc string) {
	want, werr := ParseNotifyXML([]byte(doc), "xml")
	var got []payevent.Field
	gerr := readNotifyXMLSorted([]byte(doc), "xml", &got)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%s: sorted reader says %v, ParseNotifyXML %v", doc, gerr, werr)
	}
	if werr != nil {
		return
	}
	if len(got) != len(want) || !slices.IsSortedFunc(got, func(a, b payevent.Field) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("%s: %v, want %v sorted", doc, got, want)
	}
	for _, f := range got {
		if v, ok := want[f.Name]; !ok || v != f.Value {
			t.Fatalf("%s: %v, want %v", doc, got, want)
		}
	}
}
