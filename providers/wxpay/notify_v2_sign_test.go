package wxpay

import (
	"math/rand/v2"
	"strings"
	"testing"

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
			params, hadEmpty, err := readNotifyXML([]byte(doc.String()), "xml", false, &sc.signed)
			if err != nil {
				t.Fatal(err)
			}
			if hadEmpty {
				dropEmpty(params)
			}
			sc.buf = appendV2SignString(sc.buf[:0], sortedCopy(sc.signed), params, key)
			if got, want := string(sc.buf), signing.WxpayV2SignString(params, key); got != want {
				t.Fatalf("sign string %q, signing says %q", got, want)
			}
			fast, slow := v.verifyV2SignFast(params, sc), v.verifyV2Sign(params)
			sc.release()
			if (fast == nil) != (slow == nil) || fast != nil && fast.Error() != slow.Error() {
				t.Fatalf("sign_type %q sign %q: fast %v, signing %v", c.signType, c.sign, fast, slow)
			}
		}
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}
