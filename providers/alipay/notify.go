// Package alipay is an Alipay open-platform client library: gateway calls,
// and verification of the asynchronous trade and refund notifications.
package alipay

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/signing"
)

// Checks a notification can fail, as named in logs and metrics.
const (
	// CheckMalformed: not a form this verifier can read, or fields missing
	// or unreadable.
	CheckMalformed = "malformed"
	// CheckUnsupported: kept for callers that name it; every authentic
	// notification is now forwarded (see notifyOther).
	CheckUnsupported = "unsupported"
	// CheckSignature: sign missing or wrong, or sign_type unknown.
	CheckSignature = "signature"
	// CheckMerchant: app_id differs from the configured one.
	CheckMerchant = "merchant"
)

// Notification kinds.
const (
	NotifyPaymentKind = payevent.KindPayment
	NotifyRefundKind  = payevent.KindRefund
)

// NotifyError is a refused notification (see payevent.Refusal).
type NotifyError = payevent.Refusal

func refuse(check, format string, args ...any) *NotifyError {
	return payevent.Refuse("alipay", check, format, args...)
}

// NotifyPayment is a verified payment notification, normalised.
type NotifyPayment = payevent.Payment

// NotifyRefund is a verified refund notification, normalised.
type NotifyRefund = payevent.Refund

// Notification is a notification that passed every check.
type Notification struct {
	Kind string // NotifyPaymentKind or NotifyRefundKind
	// Event is *NotifyPayment or *NotifyRefund.
	Event any
}

// Bounds of a notification form.
const (
	maxNotifyFormBytes  = 1 << 20
	maxNotifyFormFields = 200
)

// ParseNotifyForm reads an application/x-www-form-urlencoded body the way
// Alipay sends notifications: fields separated by &, each key and value
// URL-decoded exactly once ('+' is a space, %XX a byte), values otherwise
// as received. A repeated key, an empty key, a bad escape or a ';'
// separator is an error: what is verified must be what is used.
func ParseNotifyForm(body []byte) (map[string]string, error) {
	if len(body) > maxNotifyFormBytes {
		return nil, errors.New("form: body too large")
	}
	fields := make(map[string]string)
	for part := range strings.SplitSeq(string(body), "&") {
		if part == "" {
			continue
		}
		if strings.ContainsRune(part, ';') {
			return nil, errors.New("form: ';' is not a separator")
		}
		k, val, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" {
			return nil, errors.New("form: unreadable key")
		}
		value, err := url.QueryUnescape(val)
		if err != nil {
			return nil, fmt.Errorf("form: %s: bad escape", shortID(key))
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("form: %s appears twice", shortID(key))
		}
		if len(fields) >= maxNotifyFormFields {
			return nil, errors.New("form: too many fields")
		}
		fields[key] = value
	}
	if len(fields) == 0 {
		return nil, errors.New("form: empty")
	}
	return fields, nil
}

// NotifyVerifier checks Alipay asynchronous notifications and normalises
// them. It is safe for concurrent use once configured.
type NotifyVerifier struct {
	// AppID, when set, must equal the notification's app_id.
	AppID string
	// PublicKey is the Alipay public key (not the app's own).
	PublicKey *rsa.PublicKey
	// Certs, when set, is certificate mode: the notification is verified
	// with the configured Alipay certificates' keys (the one its
	// alipay_cert_sn names, if it names one) and PublicKey is not used.
	Certs *Certs
}

var errNoNotifyKey = errors.New("no Alipay public key")

// verify checks the sign of params with PublicKey, or in certificate mode
// with the configured certificates' keys.
func (v *NotifyVerifier) verify(params map[string]string) error {
	if v.Certs == nil {
		if v.PublicKey == nil {
			return errNoNotifyKey
		}
		return signing.AlipayVerifyParams(v.PublicKey, params)
	}
	keys, err := v.Certs.Keys(params["alipay_cert_sn"])
	if err != nil {
		return err
	}
	return verifyAny(keys, func(k *rsa.PublicKey) error { return signing.AlipayVerifyParams(k, params) })
}

// Verify checks a notification given the exact bytes of its form body.
// Fields with empty values are dropped first (Alipay does not sign them).
// Checks in order: the form is readable, the signature (RSA2 or RSA per
// sign_type; the string without sign_type, then with it), the app_id, then
// the fields of a trade (or refund) notification.
func (v *NotifyVerifier) Verify(body []byte) (*Notification, error) {
	params, err := ParseNotifyForm(body)
	if err != nil {
		return nil, &NotifyError{Provider: "alipay", Check: CheckMalformed, Err: err}
	}
	// Alipay signs no empty value: "&x=&gmt_refund=" added to a genuine
	// notification still verifies, so empty fields are dropped before the
	// check, the mapping (an empty gmt_refund is not a refund) and raw.
	payevent.DropEmpty(params)
	if err := v.verify(params); err != nil {
		switch {
		case errors.Is(err, errNoNotifyKey):
			return nil, refuse(CheckSignature, "no Alipay public key is configured")
		case errors.Is(err, ErrUnknownCertSN):
			return nil, refuse(CheckSignature, "alipay_cert_sn %q is not a configured Alipay certificate", shortID(params["alipay_cert_sn"]))
		case errors.Is(err, signing.ErrMissingSignature):
			return nil, refuse(CheckSignature, "sign is absent")
		case errors.Is(err, signing.ErrUnsupportedSignType):
			return nil, refuse(CheckSignature, "sign_type %q is not supported", shortID(params["sign_type"]))
		}
		return nil, refuse(CheckSignature, "sign does not verify")
	}
	if v.AppID != "" && params["app_id"] != v.AppID {
		if params["app_id"] == "" {
			return nil, refuse(CheckMerchant, "app_id is absent")
		}
		return nil, refuse(CheckMerchant, "app_id %q is not the configured one", shortID(params["app_id"]))
	}
	if nt := params["notify_type"]; nt != "" && nt != "trade_status_sync" {
		return notifyOther(params)
	}
	if params["out_trade_no"] == "" && params["trade_no"] == "" {
		return nil, refuse(CheckMalformed, "neither out_trade_no nor trade_no is present")
	}
	if params["refund_fee"] != "" || params["gmt_refund"] != "" {
		return notifyRefund(params)
	}
	return notifyPayment(params)
}

// tradeStates maps trade_status to the uniCloud tradeState values.
var tradeStates = map[string]string{
	"TRADE_SUCCESS":  "SUCCESS",
	"TRADE_FINISHED": "FINISHED",
	"TRADE_CLOSED":   "CLOSED",
	"WAIT_BUYER_PAY": "USERPAYING",
}

func tradeState(status string) string {
	if s, ok := tradeStates[status]; ok {
		return s
	}
	return status
}

func amount(params map[string]string, field string, required bool) (int64, error) {
	s := params[field]
	if s == "" {
		if required {
			return 0, refuse(CheckMalformed, "%s is absent", field)
		}
		return 0, nil
	}
	fen, err := YuanToFen(s)
	if err != nil {
		return 0, refuse(CheckMalformed, "%s is not an amount in yuan", field)
	}
	return fen, nil
}

// chinaTime is UTC+8: Alipay's gmt_* fields are Beijing time.
var chinaTime = time.FixedZone("CST", 8*3600)

// timeEnd converts an Alipay time ("2006-01-02 15:04:05", China time) to
// yyyyMMddHHmmss. Absent is "".
func timeEnd(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.ParseInLocation(time.DateTime, s, chinaTime)
	if err != nil {
		return "", refuse(CheckMalformed, "%s is not a yyyy-MM-dd HH:mm:ss time", field)
	}
	return t.Format("20060102150405"), nil
}

func openID(params map[string]string) string {
	if params["buyer_open_id"] != "" {
		return params["buyer_open_id"]
	}
	return params["buyer_id"]
}

func notifyPayment(params map[string]string) (*Notification, error) {
	total, err := amount(params, "total_amount", true)
	if err != nil {
		return nil, err
	}
	cash, err := amount(params, "receipt_amount", false)
	if err != nil {
		return nil, err
	}
	end, err := timeEnd("gmt_payment", params["gmt_payment"])
	if err != nil {
		return nil, err
	}
	return &Notification{
		Kind: NotifyPaymentKind,
		Event: &NotifyPayment{
			Provider:      "alipay",
			Type:          NotifyPaymentKind,
			OutTradeNo:    params["out_trade_no"],
			TransactionID: params["trade_no"],
			TotalFee:      total,
			CashFee:       cash,
			FeeType:       "CNY", // Alipay amounts are yuan
			TimeEnd:       end,
			OpenID:        openID(params),
			TradeState:    tradeState(params["trade_status"]),
			Raw:           rawForm(params),
		},
	}, nil
}

// notifyOther is an authentic notification that is not about a trade
// (servicemarket_order_notify and the like, signed with sign_type kept). It
// reaches the backend as a payment event with the fields it has (an order
// number, an amount, a time) and everything in raw; raw.notifyType tells it
// apart. Refusing it would only make Alipay retry it forever.
func notifyOther(params map[string]string) (*Notification, error) {
	first := func(fields ...string) string {
		for _, f := range fields {
			if params[f] != "" {
				return f
			}
		}
		return fields[0]
	}
	total, err := amount(params, first("total_amount", "total_price"), false)
	if err != nil {
		return nil, err
	}
	timeField := first("gmt_payment", "notify_time")
	end, err := timeEnd(timeField, params[timeField])
	if err != nil {
		return nil, err
	}
	return &Notification{
		Kind: NotifyPaymentKind,
		Event: &NotifyPayment{
			Provider:      "alipay",
			Type:          NotifyPaymentKind,
			OutTradeNo:    params[first("out_trade_no", "commodity_order_id")],
			TransactionID: params["trade_no"],
			TotalFee:      total,
			CashFee:       total,
			FeeType:       "CNY",
			TimeEnd:       end,
			OpenID:        openID(params),
			TradeState:    tradeState(params["trade_status"]),
			Raw:           rawForm(params),
		},
	}, nil
}

func notifyRefund(params map[string]string) (*Notification, error) {
	total, err := amount(params, "total_amount", true)
	if err != nil {
		return nil, err
	}
	// refund_fee is the total refunded so far on the trade, not only this
	// refund (Alipay's documentation of the notification).
	refund, err := amount(params, "refund_fee", false)
	if err != nil {
		return nil, err
	}
	// What the merchant actually received, when sent (receipt_amount) is the
	// closest to WeChat Pay's settlement_total_fee.
	settlementTotal := total
	if params["receipt_amount"] != "" {
		if settlementTotal, err = amount(params, "receipt_amount", false); err != nil {
			return nil, err
		}
	}
	return &Notification{
		Kind: NotifyRefundKind,
		Event: &NotifyRefund{
			Provider:            "alipay",
			Type:                NotifyRefundKind,
			OutTradeNo:          params["out_trade_no"],
			TransactionID:       params["trade_no"],
			OutRefundNo:         params["out_biz_no"],
			TotalFee:            total,
			RefundFee:           refund,
			SettlementTotalFee:  settlementTotal,
			SettlementRefundFee: refund,
			// Alipay notifies a refund once it has succeeded.
			RefundStatus: "SUCCESS",
			Raw:          rawForm(params),
		},
	}, nil
}

// rawForm is the raw member: every form field camelCased, sign left out.
func rawForm(params map[string]string) map[string]any { return payevent.Raw(params) }

// shortID quotes an identifier taken from a notification for an error.
func shortID(s string) string { return payevent.Short(s, 40) }
