package alipay_test

import (
	"errors"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// FuzzParseAnswer feeds gateway answers to the verifier: it must never
// panic, and a failure it reports carries fields only when it verified.
func FuzzParseAnswer(f *testing.F) {
	priv, pub := payKeys(f)
	member := `{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","total_amount":"88.88"}`
	f.Add([]byte(`{"alipay_trade_query_response":` + member + `,"sign":"` + signMember(f, priv, member) + `"}`))
	f.Add([]byte(`{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}`))
	f.Add([]byte(`{"alipay_trade_query_response":{"code":"10000"}}`))
	f.Add([]byte(`{"alipay_trade_query_response":"x","sign":1}`))
	f.Add([]byte(`[]`))
	c := &alipay.Client{AppID: payAppID, AlipayPublicKey: pub}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := c.ParseAnswer(alipay.MethodTradeQuery, body)
		if err == nil {
			if fields == nil {
				t.Fatal("success without fields")
			}
			_, _ = alipay.Answer(fields) // must not panic either
			return
		}
		var be *alipay.BusinessError
		if errors.As(err, &be) && be.Fields != nil {
			t.Fatalf("a business failure with fields from an unverified answer: %s", body)
		}
	})
}
