package wxpay

import (
	"encoding/json"
	"time"

	"github.com/caddy-unicloud/unicloud/casing"
)

// The APIv3 answers are given to callers in the shape of the v2 ones (the
// uniCloud unified payment API was written over v2): the same camelCase
// names, amounts in fen as numbers, times as v2 writes them. Fields without
// a v2 counterpart keep their APIv3 name, camelCased.

// v3Int reads an integer JSON number.
func v3Int(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// v3Time converts an APIv3 time (RFC 3339) with layout in China time; a
// value that is not RFC 3339 is kept as it is.
func v3Time(v any, layout string) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(chinaTime).Format(layout)
}

// camelValue is an APIv3 value for the caller: objects and arrays with
// camelCase keys, integers as int64.
func camelValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[casing.CamelKey(k)] = camelValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = camelValue(e)
		}
		return out
	}
	return v
}

// v3Map renames an answer's fields: renames maps an APIv3 name to the v2
// (camelCase) name, convert (optional) changes a value; other fields are
// camelCased as they are.
func v3Map(ans map[string]any, renames map[string]string, convert map[string]func(any) any, out map[string]any) {
	for k, v := range ans {
		name, ok := renames[k]
		if !ok {
			name = casing.CamelKey(k)
		}
		if name == "" {
			continue
		}
		if f := convert[k]; f != nil {
			out[name] = f(v)
			continue
		}
		out[name] = camelValue(v)
	}
}

// v3Amounts moves the members of an amount object to their v2 names; the
// members without one stay in "amount".
func v3Amounts(amount any, names map[string]string, out map[string]any) {
	m, ok := amount.(map[string]any)
	if !ok {
		return
	}
	rest := map[string]any{}
	for k, v := range m {
		if name, ok := names[k]; ok {
			if n, ok := v3Int(v); ok {
				out[name] = n
			} else {
				out[name] = camelValue(v)
			}
			continue
		}
		rest[casing.CamelKey(k)] = camelValue(v)
	}
	if len(rest) > 0 {
		out["amount"] = rest
	}
}

var (
	v3OrderRenames = map[string]string{
		"appid": "appId", "mchid": "mchId", "success_time": "timeEnd", "payer": "", "amount": "",
	}
	v3OrderConvert = map[string]func(any) any{
		"success_time": func(v any) any { return v3Time(v, timeEndLayout) },
	}
	v3OrderAmounts = map[string]string{
		"total": "totalFee", "payer_total": "cashFee", "currency": "feeType", "payer_currency": "cashFeeType",
	}
)

// V3PrepayAnswer is the caller's answer to an APIv3 order (besides
// orderInfo): appId, mchId, tradeType, and prepayId, codeUrl or mwebUrl as
// v2's unifiedorder gives them.
func V3PrepayAnswer(c *ClientV3, clientType string, ans map[string]any) map[string]any {
	return v3PrepayAnswer(c.AppID, c.MchID, clientType, ans)
}

// v3PrepayAnswer is V3PrepayAnswer for an order placed with appID.
func v3PrepayAnswer(appID, mchID, clientType string, ans map[string]any) map[string]any {
	tradeType, _ := TradeType(clientType)
	out := map[string]any{"appId": appID, "mchId": mchID, "tradeType": tradeType}
	v3Map(ans, map[string]string{"h5_url": "mwebUrl"}, nil, out)
	return out
}

// V3OrderAnswer converts an APIv3 transaction (order query) to v2's
// orderquery answer: appId, mchId, outTradeNo, transactionId, tradeType,
// tradeState, tradeStateDesc, bankType, attach, timeEnd (yyyyMMddHHmmss),
// openid, totalFee, cashFee, feeType, cashFeeType, couponFee (the sum of
// promotionDetail, when there is one).
func V3OrderAnswer(ans map[string]any) map[string]any {
	out := make(map[string]any, len(ans)+8)
	v3Map(ans, v3OrderRenames, v3OrderConvert, out)
	if p, ok := ans["payer"].(map[string]any); ok {
		for k, v := range p {
			out[casing.CamelKey(k)] = camelValue(v) // openid, sp_openid, sub_openid
		}
	}
	v3Amounts(ans["amount"], v3OrderAmounts, out)
	if list, ok := ans["promotion_detail"].([]any); ok && len(list) > 0 {
		var sum int64
		for _, p := range list {
			if m, ok := p.(map[string]any); ok {
				if n, ok := v3Int(m["amount"]); ok {
					sum += n
				}
			}
		}
		out["couponFee"] = sum
		out["couponCount"] = int64(len(list))
	}
	return out
}

// v3FundsAccountV2 maps an APIv3 funds_account to v2's refund_account.
func v3FundsAccountV2(v any) any {
	s, _ := v.(string)
	if m, ok := v3FundsAccounts[s]; ok {
		return m
	}
	return v
}

// v3RefundStatusV2 maps an APIv3 refund status to the v2 refund_status
// (SUCCESS, REFUNDCLOSE, PROCESSING, CHANGE); the notification verifier
// does the same.
func v3RefundStatusV2(v any) any {
	s, _ := v.(string)
	if m, ok := v3RefundStatus[s]; ok {
		return m
	}
	return v
}

var (
	v3RefundRenames = map[string]string{
		"channel": "refundChannel", "user_received_account": "refundRecvAccout", "success_time": "refundSuccessTime",
		"status": "refundStatus", "funds_account": "refundAccount", "amount": "",
	}
	v3RefundConvert = map[string]func(any) any{
		"success_time":  func(v any) any { return v3Time(v, time.DateTime) },
		"status":        v3RefundStatusV2,
		"funds_account": v3FundsAccountV2,
	}
	// v3FundsAccounts maps APIv3 funds_account to v2's refund_account
	// (the two v2 has names for); others are passed as they are.
	v3FundsAccounts = map[string]string{
		"AVAILABLE": "REFUND_SOURCE_RECHARGE_FUNDS",
		"UNSETTLED": "REFUND_SOURCE_UNSETTLED_FUNDS",
	}
	v3RefundAmounts = map[string]string{
		"total": "totalFee", "refund": "refundFee", "payer_total": "cashFee", "payer_refund": "cashRefundFee",
		"settlement_refund": "settlementRefundFee", "settlement_total": "settlementTotalFee",
		"discount_refund": "couponRefundFee", "currency": "feeType",
	}
)

// V3RefundAnswer converts an APIv3 refund (refund, refund query) to v2's
// refund answer: refundId, outRefundNo, transactionId, outTradeNo,
// refundChannel, refundRecvAccout, refundSuccessTime (yyyy-MM-dd
// HH:mm:ss), refundStatus (v2 values), refundAccount, totalFee, refundFee,
// cashFee, cashRefundFee, settlementRefundFee, settlementTotalFee,
// couponRefundFee, feeType. Amount members without a v2 name (from, the
// service charge refund_fee) stay in amount.
func V3RefundAnswer(ans map[string]any) map[string]any {
	out := make(map[string]any, len(ans)+8)
	v3Map(ans, v3RefundRenames, v3RefundConvert, out)
	v3Amounts(ans["amount"], v3RefundAmounts, out)
	return out
}

// v3RefundListFields are the members of a v2 refundquery refundList item.
var v3RefundListFields = []string{
	"outRefundNo", "refundId", "refundChannel", "refundFee", "settlementRefundFee", "cashRefundFee",
	"couponRefundFee", "refundStatus", "refundAccount", "refundRecvAccout", "refundSuccessTime",
}

// V3RefundQueryAnswer converts an APIv3 refund query answer (one refund)
// to v2's refundquery answer: the fields of V3RefundAnswer, refundCount 1,
// and refundList with that refund.
func V3RefundQueryAnswer(ans map[string]any) map[string]any {
	out := V3RefundAnswer(ans)
	item := map[string]any{}
	for _, k := range v3RefundListFields {
		if v, ok := out[k]; ok {
			item[k] = v
		}
	}
	if list, ok := out["promotionDetail"].([]any); ok && len(list) > 0 {
		item["couponList"] = list
	}
	out["refundCount"] = int64(1)
	out["refundList"] = []map[string]any{item}
	return out
}
