package wxpay

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzV3Answers reads arbitrary APIv3 answer bodies as the client does
// (one JSON object, numbers kept exact) and converts them to the caller's
// v2 shape: never a panic, amounts that were integers stay int64, and a
// failure body becomes a BusinessError only with a code.
func FuzzV3Answers(f *testing.F) {
	f.Add([]byte(`{"amount":{"total":100,"payer_total":90,"currency":"CNY"},"payer":{"openid":"o"},"success_time":"2018-06-08T10:34:56+08:00","promotion_detail":[{"amount":10}]}`))
	f.Add([]byte(`{"status":"ABNORMAL","amount":{"refund":1e400,"from":[{"amount":"x"}]},"success_time":"yesterday"}`))
	f.Add([]byte(`{"code":"PARAM_ERROR","message":"参数错误"}`))
	f.Add([]byte(`{"promotion_detail":[1,{"amount":-5}],"payer":[],"amount":"1"}`))
	f.Add([]byte(`[] {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		err := v3Failure(&V3Response{Status: 400, Header: http.Header{}, Body: body}, "/v3/x?y")
		if be, ok := err.(*BusinessError); ok && be.Code == "" {
			t.Fatal("a business error without a code")
		}
		var ans map[string]any
		if decodeOneJSON(body, &ans) != nil || ans == nil {
			return
		}
		order := V3OrderAnswer(ans)
		refund := V3RefundAnswer(ans)
		rq := V3RefundQueryAnswer(ans)
		if _, ok := rq["refundList"].([]map[string]any); !ok {
			t.Fatal("refundList is missing")
		}
		amount, _ := ans["amount"].(map[string]any)
		if n, ok := amount["total"].(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				if _, ok := order["totalFee"].(int64); !ok {
					t.Fatalf("integer amount.total became %T", order["totalFee"])
				}
				if _, ok := refund["totalFee"].(int64); !ok {
					t.Fatalf("integer amount.total became %T", refund["totalFee"])
				}
			}
		}
		if _, err := json.Marshal(order); err != nil {
			t.Fatalf("the answer cannot be encoded: %v", err)
		}
		if _, err := json.Marshal(rq); err != nil {
			t.Fatalf("the answer cannot be encoded: %v", err)
		}
	})
}
