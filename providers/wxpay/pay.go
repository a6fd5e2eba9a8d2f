package wxpay

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/signing"
)

// TradeType is the unifiedorder trade_type for a uni-app client type:
// mp-weixin and h5-weixin → JSAPI, app-plus → APP, native → NATIVE, h5 →
// MWEB.
func TradeType(clientType string) (string, bool) {
	switch clientType {
	case "mp-weixin", "h5-weixin":
		return "JSAPI", true
	case "app-plus":
		return "APP", true
	case "native":
		return "NATIVE", true
	case "h5":
		return "MWEB", true
	}
	return "", false
}

// OrderInfo is OrderInfoFor with the client's AppID.
func (c *Client) OrderInfo(ctx context.Context, clientType string, answer map[string]string) (map[string]string, error) {
	return c.OrderInfoFor(ctx, clientType, c.AppID, answer)
}

// OrderInfoFor builds what uni.requestPayment needs from a verified
// unifiedorder answer of an order placed with appID, signed with the key
// the order was placed with:
//
//	mp-weixin, h5-weixin  {appId, timeStamp, nonceStr, package: "prepay_id=…", signType, paySign}
//	app-plus              {appid, partnerid, prepayid, package: "Sign=WXPay", noncestr, timestamp, sign}
//	native                {codeUrl}
//	h5                    {mwebUrl}
func (c *Client) OrderInfoFor(ctx context.Context, clientType, appID string, answer map[string]string) (map[string]string, error) {
	switch {
	case clientType == "native":
		if answer["code_url"] == "" {
			return nil, &UpstreamError{Provider: "wxpay", Reason: "unifiedorder answered no code_url"}
		}
		return map[string]string{"codeUrl": answer["code_url"]}, nil
	case clientType == "h5":
		if answer["mweb_url"] == "" {
			return nil, &UpstreamError{Provider: "wxpay", Reason: "unifiedorder answered no mweb_url"}
		}
		return map[string]string{"mwebUrl": answer["mweb_url"]}, nil
	case jsapiClient(clientType), clientType == "app-plus":
	default:
		return nil, &ParamError{Msg: "clientType " + strconv.Quote(shortID(clientType)) + " has no WeChat Pay orderInfo"}
	}
	prepay := answer["prepay_id"]
	if prepay == "" {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "unifiedorder answered no prepay_id"}
	}
	key, err := c.SignKey(ctx)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	nonce := c.nonce()
	signType := c.signType()
	var info map[string]string
	signField := "paySign"
	if jsapiClient(clientType) {
		// wx.requestPayment, getBrandWCPayRequest: the sign covers appId,
		// timeStamp, nonceStr, package and signType, spelled this way.
		info = jsapiOrderInfo(appID, ts, nonce, prepay, signType)
	} else {
		// The APP SDK's PayReq: lowercase names, fixed package.
		info = map[string]string{
			"appid":     appID,
			"partnerid": c.MchID,
			"prepayid":  prepay,
			"package":   "Sign=WXPay",
			"noncestr":  nonce,
			"timestamp": ts,
		}
		signField = "sign"
	}
	sign, err := signing.WxpayV2Sign(info, key, signType)
	if err != nil {
		return nil, err
	}
	info[signField] = sign
	return info, nil
}

// envelope lists the answer fields that say how the call went or
// authenticate the answer: the caller gets errCode and errMsg instead.
var envelope = map[string]bool{
	"return_code": true, "return_msg": true, "result_code": true, "err_code": true,
	"err_code_des": true, "sign": true, "sign_type": true, "nonce_str": true,
}

// Answer converts the fields of a verified answer to the caller's
// camelCase, without the envelope (return_code, result_code, err_code,
// sign, nonce_str…): amounts (total_fee, cash_fee, refund_fee_0…, already
// integer fen) and counts (refund_count…) become numbers.
func Answer(fields map[string]string) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if envelope[k] {
			continue
		}
		out[casing.CamelKey(k)] = value(k, v)
	}
	return out
}

// value is a field's value for the caller: a number for amounts and
// counts made of digits, the text otherwise.
func value(k, v string) any {
	if !numberField(k) || v == "" || len(v) > 18 || strings.TrimLeft(v, "0123456789") != "" {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	return n
}

// numberField reports whether a v2 field is an amount in fen or a count:
// its name without the _$n indexes ends in _fee or _count (fee_type and
// refund_fee_type do not).
func numberField(k string) bool {
	base, _ := splitIndexes(k)
	return base == "fee" || strings.HasSuffix(base, "_fee") || strings.HasSuffix(base, "_count")
}

// splitIndexes splits "coupon_refund_fee_0_1" into "coupon_refund_fee" and
// [0 1].
func splitIndexes(k string) (string, []int) {
	var idx []int
	for {
		i := strings.LastIndexByte(k, '_')
		if i <= 0 || i == len(k)-1 {
			break
		}
		n, err := strconv.Atoi(k[i+1:])
		if err != nil || n < 0 || strings.TrimLeft(k[i+1:], "0123456789") != "" {
			break
		}
		idx = append([]int{n}, idx...)
		k = k[:i]
	}
	return k, idx
}

// Per-refund fields of a refundquery answer (name_$n), and per-coupon
// fields of a refund (name_$n_$m).
var (
	refundFields = map[string]bool{
		"out_refund_no": true, "refund_id": true, "refund_channel": true, "refund_fee": true,
		"settlement_refund_fee": true, "refund_status": true, "coupon_refund_fee": true,
		"coupon_refund_count": true, "refund_account": true, "refund_recv_accout": true,
		"refund_success_time": true,
	}
	couponFields = map[string]bool{"coupon_type": true, "coupon_refund_id": true, "coupon_refund_fee": true}
)

// RefundQueryAnswer converts a verified refundquery answer: the order's
// fields as Answer does, and each refund (out_refund_no_$n, refund_fee_$n…)
// as an item of refundList, its coupons (coupon_type_$n_$m…) in its
// couponList.
func RefundQueryAnswer(fields map[string]string) map[string]any {
	top := make(map[string]string, len(fields))
	refunds := map[int]map[string]any{}
	coupons := map[int]map[int]map[string]any{}
	for k, v := range fields {
		base, idx := splitIndexes(k)
		switch {
		case len(idx) == 1 && refundFields[base]:
			if refunds[idx[0]] == nil {
				refunds[idx[0]] = map[string]any{}
			}
			refunds[idx[0]][casing.CamelKey(base)] = value(base, v)
		case len(idx) == 2 && couponFields[base]:
			if coupons[idx[0]] == nil {
				coupons[idx[0]] = map[int]map[string]any{}
			}
			if coupons[idx[0]][idx[1]] == nil {
				coupons[idx[0]][idx[1]] = map[string]any{}
			}
			coupons[idx[0]][idx[1]][casing.CamelKey(base)] = value(base, v)
		default:
			top[k] = v
		}
	}
	out := Answer(top)
	list := make([]map[string]any, 0, len(refunds))
	for _, n := range sortedKeys(refunds) {
		r := refunds[n]
		if cs := coupons[n]; len(cs) > 0 {
			items := make([]map[string]any, 0, len(cs))
			for _, m := range sortedKeys(cs) {
				items = append(items, cs[m])
			}
			r["couponList"] = items
		}
		list = append(list, r)
	}
	out["refundList"] = list
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
