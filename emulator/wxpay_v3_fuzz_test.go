package emulator

import (
	"strings"
	"testing"
)

// FuzzWxpayV3Authorization parses arbitrary Authorization headers: never
// a panic, and an accepted one has every field, none with a comma.
func FuzzWxpayV3Authorization(f *testing.F) {
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1900007291",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="abc==",timestamp="1554208460",serial_no="408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str=",",signature="""",timestamp="1"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 =`)
	f.Add(`Bearer x`)
	f.Fuzz(func(t *testing.T, h string) {
		m, ok := parseWxpayV3Authorization(h)
		if !ok {
			return
		}
		for _, k := range []string{"mchid", "nonce_str", "signature", "timestamp", "serial_no"} {
			if m[k] == "" {
				t.Fatalf("%s is empty in an accepted header", k)
			}
		}
		for k, v := range m {
			if strings.Contains(v, ",") {
				t.Fatalf("%s holds a comma: the fields were not split", k)
			}
			// Each field is read from the header itself, k="v", after the
			// scheme: nothing is made up or taken from another field.
			if !strings.Contains(h[strings.IndexByte(h, ' ')+1:], k+`="`+v+`"`) {
				t.Fatalf("%s=%q is not in the header %q", k, v, h)
			}
		}
	})
}
