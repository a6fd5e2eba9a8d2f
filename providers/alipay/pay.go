package alipay

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
)

// Gateway methods of the unified payment API and of the mini-program
// login.
const (
	MethodTradeCreate      = "alipay.trade.create"
	MethodTradeAppPay      = "alipay.trade.app.pay"
	MethodTradePrecreate   = "alipay.trade.precreate"
	MethodTradeWapPay      = "alipay.trade.wap.pay"
	MethodTradePagePay     = "alipay.trade.page.pay"
	MethodTradeQuery       = "alipay.trade.query"
	MethodTradeClose       = "alipay.trade.close"
	MethodTradeCancel      = "alipay.trade.cancel"
	MethodTradeRefund      = "alipay.trade.refund"
	MethodTradeRefundQuery = "alipay.trade.fastpay.refund.query"
	MethodOAuthToken       = "alipay.system.oauth.token"
	MethodUserInfoShare    = "alipay.user.info.share"
)

// The product_code of each payment Alipay's client takes: an app
// payment (alipay.trade.app.pay), a mobile-browser payment
// (alipay.trade.wap.pay) and a PC-page payment (alipay.trade.page.pay).
// alipay.trade.precreate (a QR code) sends none.
const (
	AppPayProductCode  = "QUICK_MSECURITY_PAY"
	WapPayProductCode  = "QUICK_WAP_WAY"
	PagePayProductCode = "FAST_INSTANT_TRADE_PAY"
)

// userIDPattern is an Alipay user_id (2088 and twelve digits); anything
// else given as a payer is an open_id.
var userIDPattern = regexp.MustCompile(`^2088[0-9]{12}$`)

// BuyerField is the biz_content field that names a payer: buyer_id for a
// user_id, buyer_open_id for an open_id (applications created since 2023
// see open_ids only).
func BuyerField(id string) string {
	if userIDPattern.MatchString(id) {
		return "buyer_id"
	}
	return "buyer_open_id"
}

// TradeState maps an Alipay trade_status to the uniCloud tradeState:
// WAIT_BUYER_PAY → USERPAYING, TRADE_SUCCESS → SUCCESS, TRADE_CLOSED →
// CLOSED, TRADE_FINISHED → FINISHED.
func TradeState(status string) string { return tradeState(status) }

// amountField reports whether a member of an answer is an amount in yuan:
// amount, *_amount (total_amount, receipt_amount, real_amount…) and *_fee
// (refund_fee, send_back_fee…).
func amountField(k string) bool {
	return k == "amount" || strings.HasSuffix(k, "_amount") || strings.HasSuffix(k, "_fee")
}

// envelope are the members that say how the call went: the caller gets
// errCode and errMsg instead.
var envelope = map[string]bool{"code": true, "msg": true, "sub_code": true, "sub_msg": true}

// unified renames the members the uniCloud API names its own way, in the
// top level of an answer.
var unified = map[string]string{
	"trade_no":       "transactionId",
	"total_amount":   "totalFee",
	"trade_status":   "tradeState",
	"receipt_amount": "cashFee",
	"settle_amount":  "settlementTotalFee",
	"refund_fee":     "refundFee",     // alipay.trade.refund: refunded so far
	"refund_amount":  "refundFee",     // fastpay.refund.query: this refund
	"send_back_fee":  "cashRefundFee", // what actually went back to the payer
	"refund_reason":  "refundDesc",
	"out_request_no": "outRefundNo",
}

// Answer converts the members of a verified answer for the caller: every
// amount from a yuan string to integer fen (recursively, in
// fund_bill_list, refund_detail_item_list…), keys camelCase, code and msg
// dropped, and the uniCloud names (trade_no → transactionId, total_amount
// → totalFee, trade_status → tradeState with uniCloud's values…).
func Answer(fields map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if envelope[k] {
			continue
		}
		v, err := toFen(k, v)
		if err != nil {
			return nil, err
		}
		name, ok := unified[k]
		if !ok {
			out[casing.CamelKey(k)] = casing.ToCamel(v)
			continue
		}
		if k == "trade_status" {
			if s, ok := v.(string); ok {
				v = TradeState(s)
			}
		}
		out[name] = v
	}
	return out, nil
}

// toFen converts the amounts in a member's value, recursively.
func toFen(k string, v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for kk, vv := range x {
			c, err := toFen(kk, vv)
			if err != nil {
				return nil, err
			}
			out[kk] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			c, err := toFen(k, vv)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case string:
		if !amountField(k) || x == "" {
			return x, nil
		}
		fen, err := YuanToFen(x)
		if err != nil {
			return nil, fmt.Errorf("alipay: %s is not an amount in yuan", shortID(k))
		}
		return fen, nil
	case json.Number:
		if !amountField(k) {
			return x, nil
		}
		fen, err := YuanToFen(x.String())
		if err != nil {
			return nil, fmt.Errorf("alipay: %s is not an amount in yuan", shortID(k))
		}
		return fen, nil
	}
	return v, nil
}
