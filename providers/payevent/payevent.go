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
// received, the signature left out.
func Raw(fields map[string]string) map[string]any {
	m := casing.CamelMap(fields)
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "sign" {
			out[k] = v
		}
	}
	return out
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
