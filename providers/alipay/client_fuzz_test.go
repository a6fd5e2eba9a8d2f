package alipay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// fuzzAnswerMembers are the *_response members the seeds of
// FuzzParseAnswer sign (testdata/fuzz/FuzzParseAnswer holds the same
// answers, signed with the vectors' app key).
var fuzzAnswerMembers = []string{
	`{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","total_amount":"88.88"}`,
	`{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在","buyer_pay_amount":"0.00"}`,
	`{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","total_amount":"0.01","buyer_logon_id":"159****5620"}`,
}

// FuzzParseAnswer feeds gateway answers to the verifier: it never panics,
// and whatever it returns fields for (a success, or a business failure
// with its signed fields) is exactly one of the members that were signed:
// the fields decoded from the bytes the signature covers, nothing the
// fuzzer added around or inside them.
func FuzzParseAnswer(f *testing.F) {
	priv, pub := payKeys(f)
	var signed []map[string]any
	for _, member := range fuzzAnswerMembers {
		f.Add([]byte(`{"alipay_trade_query_response":` + member + `,"sign":"` + signMember(f, priv, member) + `"}`))
		signed = append(signed, decodeMember(f, []byte(member)))
	}
	f.Add([]byte(`{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}`))
	f.Add([]byte(`{"alipay_trade_query_response":{"code":"10000"}}`))
	f.Add([]byte(`{"alipay_trade_query_response":"x","sign":1}`))
	f.Add([]byte(`[]`))
	c := &alipay.Client{AppID: payAppID, AlipayPublicKey: pub}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := c.ParseAnswer(alipay.MethodTradeQuery, body)
		var be *alipay.BusinessError
		switch {
		case err == nil:
			if fields == nil {
				t.Fatal("success without fields")
			}
			_, _ = alipay.Answer(fields) // must not panic either
		case errors.As(err, &be) && be.Fields != nil:
			fields = be.Fields
		default:
			return
		}
		for _, s := range signed {
			if reflect.DeepEqual(fields, s) {
				return
			}
		}
		t.Fatalf("fields that were never signed: %v\nfrom %q", fields, body)
	})
}

// decodeMember decodes a member as ParseAnswer does (numbers kept exact).
func decodeMember(tb testing.TB, member []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(member))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	return m
}
