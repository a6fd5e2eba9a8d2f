// Package payevent holds what WeChat Pay and Alipay notifications become once
// verified: one normalised payment or refund event (amounts in fen, China
// time), and the refusal that names the failed check.
package payevent

import (
	"fmt"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
)

// Event kinds, as in X-Unicloud-Notify-Type.
const (
	KindPayment = "payment"
	KindRefund  = "refund"
)

// Payment is a verified payment notification: the body a backend receives
// (amounts in fen, timeEnd yyyyMMddHHmmss China time).
type Payment struct {
	Provider      string         `json:"provider"`
	Type          string         `json:"type"`
	OutTradeNo    string         `json:"outTradeNo"`
	TransactionID string         `json:"transactionId"`
	TotalFee      int64          `json:"totalFee"`
	CashFee       int64          `json:"cashFee"`
	FeeType       string         `json:"feeType"`
	TimeEnd       string         `json:"timeEnd"`
	OpenID        string         `json:"openid"`
	TradeState    string         `json:"tradeState"`
	Raw           map[string]any `json:"raw"`
}

// Refund is a verified refund notification, normalised.
type Refund struct {
	Provider            string         `json:"provider"`
	Type                string         `json:"type"`
	OutTradeNo          string         `json:"outTradeNo"`
	TransactionID       string         `json:"transactionId"`
	OutRefundNo         string         `json:"outRefundNo"`
	RefundID            string         `json:"refundId"`
	TotalFee            int64          `json:"totalFee"`
	RefundFee           int64          `json:"refundFee"`
	SettlementTotalFee  int64          `json:"settlementTotalFee"`
	SettlementRefundFee int64          `json:"settlementRefundFee"`
	RefundStatus        string         `json:"refundStatus"`
	RefundAccount       string         `json:"refundAccount"`
	RefundRecvAccout    string         `json:"refundRecvAccout"`
	Raw                 map[string]any `json:"raw"`
}

// Refusal is a refused notification: which check failed, and why. The
// message never contains a key or the notification's content beyond field
// names and short identifiers.
type Refusal struct {
	// Provider is "wxpay" or "alipay".
	Provider string
	// Check names the failed check, as in logs and metrics.
	Check string
	Err   error
}

func (e *Refusal) Error() string { return e.Provider + " notify: " + e.Check + ": " + e.Err.Error() }

// Unwrap returns the cause (often a signing sentinel error).
func (e *Refusal) Unwrap() error { return e.Err }

// NotifyCheck names the failed check.
func (e *Refusal) NotifyCheck() string { return e.Check }

// Refuse makes a Refusal with a formatted cause.
func Refuse(provider, check, format string, args ...any) *Refusal {
	return &Refusal{Provider: provider, Check: check, Err: fmt.Errorf(format, args...)}
}

// Raw is the raw member of an event: every field camelCased, values as
// received, the signature left out. Two fields that camelCase to one key
// are settled as casing.CamelMap settles them.
func Raw(fields map[string]string) map[string]any {
	// One map, built directly; the rare collision is settled the slow way.
	out := make(map[string]any, len(fields))
	n := 0
	for k, v := range fields {
		ck := camelKey(k)
		if ck == "sign" {
			continue
		}
		out[ck] = v
		n++
	}
	if len(out) != n { // two keys met on one spelling
		return rawSettled(fields)
	}
	return out
}

// Field is one field of a notification.
type Field struct{ Name, Value string }

// RawFields is Raw for fields given as a list (names not repeated).
func RawFields(fields []Field) map[string]any {
	out := make(map[string]any, len(fields))
	n := 0
	for _, f := range fields {
		ck := camelKey(f.Name)
		if ck == "sign" {
			continue
		}
		out[ck] = f.Value
		n++
	}
	if len(out) != n { // two keys met on one spelling
		m := make(map[string]string, len(fields))
		for _, f := range fields {
			m[f.Name] = f.Value
		}
		return rawSettled(m)
	}
	return out
}

// rawSettled is Raw through casing.CamelMap, which settles colliding keys.
func rawSettled(fields map[string]string) map[string]any {
	m := casing.CamelMap(fields)
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "sign" {
			out[k] = v
		}
	}
	return out
}

// knownFields are the fields of WeChat Pay v2 and Alipay notifications
// whose camelCase Raw looks up rather than builds (one allocation a key
// fewer); any other key goes through casing.CamelKey.
var knownFields = [...]string{
	// WeChat Pay v2 payment and refund results.
	"appid", "mch_id", "sub_appid", "sub_mch_id", "device_info", "nonce_str", "sign", "sign_type",
	"result_code", "return_code", "return_msg", "err_code", "err_code_des", "openid", "sub_openid",
	"is_subscribe", "sub_is_subscribe", "trade_type", "bank_type", "total_fee", "settlement_total_fee",
	"fee_type", "cash_fee", "cash_fee_type", "coupon_fee", "coupon_count", "transaction_id",
	"out_trade_no", "attach", "time_end", "req_info", "refund_id", "out_refund_no", "refund_fee",
	"settlement_refund_fee", "refund_status", "success_time", "refund_recv_accout", "refund_account",
	"refund_request_source", "refund_channel", "coupon_refund_fee", "coupon_refund_count",
	// Alipay asynchronous notifications.
	"notify_time", "notify_type", "notify_id", "app_id", "charset", "version", "trade_no", "out_biz_no",
	"buyer_id", "buyer_logon_id", "seller_id", "seller_email", "trade_status", "total_amount",
	"receipt_amount", "invoice_amount", "buyer_pay_amount", "point_amount", "refund_fee",
	"subject", "body", "gmt_create", "gmt_payment", "gmt_refund", "gmt_close", "fund_bill_list",
	"passback_params", "voucher_detail_list", "auth_app_id", "merchant_app_id",
}

var knownCamel = func() map[string]string {
	m := make(map[string]string, len(knownFields))
	for _, k := range knownFields {
		m[k] = casing.CamelKey(k)
	}
	return m
}()

// camelKey is casing.CamelKey, looked up for the known fields.
func camelKey(k string) string {
	if c, ok := knownCamel[k]; ok {
		return c
	}
	return casing.CamelKey(k)
}

// DropEmpty removes the fields whose value is empty. Neither WeChat Pay
// (v2) nor Alipay signs an empty value, so anyone can add one to a genuine
// notification: it must neither be mapped nor reach the backend.
func DropEmpty(fields map[string]string) {
	for k, v := range fields {
		if v == "" {
			delete(fields, k)
		}
	}
}

// Short quotes at most max bytes of a text taken from outside input for an
// error message or a log line, control characters replaced: an identifier,
// never a secret.
func Short(s string, max int) string {
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
