package wxpay_test

import (
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// FuzzAnswers converts arbitrary answer fields: never a panic, and no
// envelope field in the caller's answer.
func FuzzAnswers(f *testing.F) {
	f.Add("out_refund_no_0", "r", "coupon_refund_fee_0_1", "1")
	f.Add("refund_fee_", "x", "_0", "9")
	f.Add("coupon_fee_99999999999999999999", "1", "sign", "S")
	f.Add("total_fee", "999999999999999999999", "refund_count", "-1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		fields := map[string]string{k1: v1, k2: v2, "return_code": "SUCCESS", "sign": "X", "nonce_str": "n"}
		for _, out := range []map[string]any{wxpay.Answer(fields), wxpay.RefundQueryAnswer(fields)} {
			for _, k := range []string{"sign", "nonceStr", "returnCode"} {
				if _, ok := out[k]; ok {
					t.Fatalf("%s in the answer", k)
				}
			}
		}
	})
}
