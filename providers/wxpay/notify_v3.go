package wxpay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/signing"
)

// PlatformKeySource finds the WeChat Pay platform public key that a
// Wechatpay-Serial header names: a platform certificate serial, or a
// "PUB_KEY_ID_…" of WeChat Pay's public-key mode, usable at at (a
// certificate only within its validity dates; the verifier's clock).
type PlatformKeySource interface {
	PlatformKey(serial string, at time.Time) (*rsa.PublicKey, bool)
}

// PlatformKeyRefresher is a PlatformKeySource that can learn keys it does not
// know yet (by downloading the platform certificates). The verifier calls it
// at most once per notification, when the serial is unknown, and looks the
// serial up again. Implementations rate-limit: anyone can send a
// notification with a made-up serial.
type PlatformKeyRefresher interface {
	PlatformKeySource
	RefreshPlatformKeys(ctx context.Context) error
}

// maxNotifyJSONBytes bounds an APIv3 notification body.
const maxNotifyJSONBytes = 1 << 20

// NotifyV3Envelope is the outer JSON of an APIv3 notification.
type NotifyV3Envelope struct {
	ID           string            `json:"id"`
	CreateTime   string            `json:"create_time"`
	EventType    string            `json:"event_type"`
	ResourceType string            `json:"resource_type"`
	Summary      string            `json:"summary"`
	Resource     *NotifyV3Resource `json:"resource"`
}

// NotifyV3Resource is the encrypted resource of an APIv3 notification.
type NotifyV3Resource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// ParseNotifyV3Envelope reads the outer JSON of an APIv3 notification: one
// object with a resource object, nothing after it.
func ParseNotifyV3Envelope(body []byte) (*NotifyV3Envelope, error) {
	if len(body) > maxNotifyJSONBytes {
		return nil, errors.New("json: body too large")
	}
	var env NotifyV3Envelope
	if err := decodeOneJSON(body, &env); err != nil {
		return nil, err
	}
	if env.Resource == nil {
		return nil, errors.New("json: resource is absent")
	}
	if env.EventType == "" {
		return nil, errors.New("json: event_type is absent")
	}
	return &env, nil
}

// decodeOneJSON decodes exactly one JSON value from data into v, numbers
// kept as json.Number.
func decodeOneJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errors.New("json: syntax error at offset " + strconv.FormatInt(se.Offset, 10))
		case errors.As(err, &te):
			return errors.New("json: " + te.Field + " has the wrong type")
		}
		return errors.New("json: unreadable")
	}
	if _, err := d.Token(); err == nil {
		return errors.New("json: data after the object")
	}
	return nil
}

// v3Transaction is the decrypted resource of TRANSACTION.* (the fields the
// event needs; raw keeps every field).
type v3Transaction struct {
	AppID         string `json:"appid"`
	SpAppID       string `json:"sp_appid"`
	MchID         string `json:"mchid"`
	SpMchID       string `json:"sp_mchid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	SuccessTime   string `json:"success_time"`
	Payer         struct {
		OpenID   string `json:"openid"`
		SpOpenID string `json:"sp_openid"`
	} `json:"payer"`
	Amount struct {
		Total      *int64 `json:"total"`
		PayerTotal *int64 `json:"payer_total"`
		Currency   string `json:"currency"`
	} `json:"amount"`
}

// v3Refund is the decrypted resource of REFUND.*.
type v3Refund struct {
	MchID               string `json:"mchid"`
	SpMchID             string `json:"sp_mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	FundsAccount        string `json:"funds_account"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       *int64 `json:"total"`
		Refund      *int64 `json:"refund"`
		PayerTotal  *int64 `json:"payer_total"`
		PayerRefund *int64 `json:"payer_refund"`
	} `json:"amount"`
}

// v3RefundStatus maps APIv3 refund_status to the v2 values uniCloud's
// verifyRefundNotify documents (SUCCESS, CHANGE, REFUNDCLOSE); raw keeps
// the original.
var v3RefundStatus = map[string]string{
	"SUCCESS":  "SUCCESS",
	"ABNORMAL": "CHANGE",
	"CLOSED":   "REFUNDCLOSE",
}

// VerifyV3 checks an APIv3 notification given its headers and the exact
// bytes of its body. Checks in order: the signature headers are present,
// the Wechatpay-Serial is known (one refresh allowed), the signature over
// timestamp\nnonce\nbody\n, the body is readable, the resource decrypts
// with the APIv3 key, the merchant identity, and the timestamp is within
// MaxSkew of now.
func (v *NotifyVerifier) VerifyV3(ctx context.Context, header http.Header, body []byte) (*Notification, error) {
	if v.APIv3Key == "" || v.PlatformKeys == nil {
		return nil, refuse(CheckSignature, "v3 notification, but no APIv3 key and platform key are configured")
	}
	sig := header.Get("Wechatpay-Signature")
	ts := header.Get("Wechatpay-Timestamp")
	nonce := header.Get("Wechatpay-Nonce")
	serial := header.Get("Wechatpay-Serial")
	if sig == "" {
		return nil, refuse(CheckSignature, "Wechatpay-Signature is absent")
	}
	if ts == "" || nonce == "" || serial == "" {
		return nil, refuse(CheckSignature, "Wechatpay-Timestamp, -Nonce or -Serial is absent")
	}
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 || ts[0] == '-' || ts[0] == '+' {
		return nil, refuse(CheckSignature, "Wechatpay-Timestamp is not a Unix time")
	}
	pub, err := v.platformKey(ctx, serial)
	if err != nil {
		return nil, err
	}
	if err := signing.WxpayV3Verify(pub, ts, nonce, body, sig); err != nil {
		return nil, refuse(CheckSignature, "Wechatpay-Signature does not verify")
	}

	env, err := ParseNotifyV3Envelope(body)
	if err != nil {
		return nil, &NotifyError{Provider: "wxpay", Check: CheckMalformed, Err: err}
	}
	kind := v3Kind(env)
	if kind == "" {
		return nil, refuse(CheckUnsupported, "event_type %q is not TRANSACTION.* or REFUND.*", shortID(env.EventType))
	}
	res := env.Resource
	if res.Algorithm != "AEAD_AES_256_GCM" {
		return nil, refuse(CheckMalformed, "resource algorithm %q is not AEAD_AES_256_GCM", shortID(res.Algorithm))
	}
	plain, err := signing.DecryptAEADAES256GCM(v.APIv3Key, res.AssociatedData, res.Nonce, res.Ciphertext)
	if err != nil {
		return nil, refuse(CheckDecrypt, "resource does not decrypt with the APIv3 key")
	}
	var raw map[string]any
	if err := decodeOneJSON(plain, &raw); err != nil {
		return nil, refuse(CheckMalformed, "resource: %v", err)
	}

	var n *Notification
	if kind == NotifyPaymentKind {
		n, err = v.v3Payment(plain, raw)
	} else {
		n, err = v.v3Refund(plain, raw)
	}
	if err != nil {
		return nil, err
	}
	skew := v.now().Sub(time.Unix(sent, 0))
	if skew > v.maxSkew() || -skew > v.maxSkew() {
		return nil, refuse(CheckFreshness, "Wechatpay-Timestamp is %s away from now, more than %s", skew.Round(time.Second), v.maxSkew())
	}
	addV3Envelope(n, env)
	return n, nil
}

func (v *NotifyVerifier) platformKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	now := v.now()
	if pub, ok := v.PlatformKeys.PlatformKey(serial, now); ok && pub != nil {
		return pub, nil
	}
	if r, ok := v.PlatformKeys.(PlatformKeyRefresher); ok {
		if err := r.RefreshPlatformKeys(ctx); err == nil {
			if pub, ok := r.PlatformKey(serial, now); ok && pub != nil {
				return pub, nil
			}
		}
	}
	return nil, refuse(CheckSerial, "Wechatpay-Serial %q is not a known platform key", shortID(serial))
}

// v3Kind is the kind of an APIv3 notification, from its event_type.
func v3Kind(env *NotifyV3Envelope) string {
	switch {
	case strings.HasPrefix(env.EventType, "TRANSACTION."):
		return NotifyPaymentKind
	case strings.HasPrefix(env.EventType, "REFUND."):
		return NotifyRefundKind
	}
	return ""
}

func (v *NotifyVerifier) v3Payment(plain []byte, raw map[string]any) (*Notification, error) {
	var t v3Transaction
	if err := json.Unmarshal(plain, &t); err != nil {
		return nil, refuse(CheckMalformed, "resource is not a transaction")
	}
	appID, mchID := t.AppID, t.MchID
	if appID == "" {
		appID = t.SpAppID // service-provider mode
	}
	if mchID == "" {
		mchID = t.SpMchID
	}
	if err := checkMerchant("appid", v.AppID, appID); err != nil {
		return nil, err
	}
	if err := checkMerchant("mchid", v.MchID, mchID); err != nil {
		return nil, err
	}
	if t.OutTradeNo == "" {
		return nil, refuse(CheckMalformed, "out_trade_no is absent")
	}
	if t.Amount.Total == nil || *t.Amount.Total < 0 {
		return nil, refuse(CheckMalformed, "amount.total is absent")
	}
	var cash int64
	if t.Amount.PayerTotal != nil {
		cash = *t.Amount.PayerTotal
	}
	feeType := t.Amount.Currency
	if feeType == "" {
		feeType = "CNY"
	}
	timeEnd, err := v3TimeEnd("success_time", t.SuccessTime)
	if err != nil {
		return nil, err
	}
	openID := t.Payer.OpenID
	if openID == "" {
		openID = t.Payer.SpOpenID
	}
	return &Notification{
		Version: NotifyV3,
		Kind:    NotifyPaymentKind,
		Event: &NotifyPayment{
			Provider:      "wxpay",
			Type:          NotifyPaymentKind,
			OutTradeNo:    t.OutTradeNo,
			TransactionID: t.TransactionID,
			TotalFee:      *t.Amount.Total,
			CashFee:       cash,
			FeeType:       feeType,
			TimeEnd:       timeEnd,
			OpenID:        openID,
			TradeState:    t.TradeState,
			Raw:           rawV3(raw),
		},
	}, nil
}

func (v *NotifyVerifier) v3Refund(plain []byte, raw map[string]any) (*Notification, error) {
	var r v3Refund
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, refuse(CheckMalformed, "resource is not a refund")
	}
	mchID := r.MchID
	if mchID == "" {
		mchID = r.SpMchID
	}
	// APIv3 refund notifications carry no appid: only mchid is checked.
	if err := checkMerchant("mchid", v.MchID, mchID); err != nil {
		return nil, err
	}
	if r.OutRefundNo == "" && r.RefundID == "" {
		return nil, refuse(CheckMalformed, "neither out_refund_no nor refund_id is present")
	}
	if r.Amount.Total == nil || r.Amount.Refund == nil || *r.Amount.Total < 0 || *r.Amount.Refund < 0 {
		return nil, refuse(CheckMalformed, "amount.total or amount.refund is absent")
	}
	settlementTotal, settlementRefund := *r.Amount.Total, *r.Amount.Refund
	if r.Amount.PayerTotal != nil {
		settlementTotal = *r.Amount.PayerTotal
	}
	if r.Amount.PayerRefund != nil {
		settlementRefund = *r.Amount.PayerRefund
	}
	status := r.RefundStatus
	if s, ok := v3RefundStatus[status]; ok {
		status = s
	}
	return &Notification{
		Version: NotifyV3,
		Kind:    NotifyRefundKind,
		Event: &NotifyRefund{
			Provider:            "wxpay",
			Type:                NotifyRefundKind,
			OutTradeNo:          r.OutTradeNo,
			TransactionID:       r.TransactionID,
			OutRefundNo:         r.OutRefundNo,
			RefundID:            r.RefundID,
			TotalFee:            *r.Amount.Total,
			RefundFee:           *r.Amount.Refund,
			SettlementTotalFee:  settlementTotal,
			SettlementRefundFee: settlementRefund,
			RefundStatus:        status,
			RefundAccount:       r.FundsAccount,
			RefundRecvAccout:    r.UserReceivedAccount,
			Raw:                 rawV3(raw),
		},
	}, nil
}

// v3TimeEnd converts an APIv3 time (RFC 3339, "2018-06-08T10:34:56+08:00")
// to timeEnd (yyyyMMddHHmmss, China time). Absent is "".
func v3TimeEnd(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", refuse(CheckMalformed, "%s is not an RFC 3339 time", field)
	}
	return t.In(chinaTime).Format(timeEndLayout), nil
}

// rawV3 is the raw member of an APIv3 event: the decrypted resource,
// camelCased recursively.
func rawV3(resource map[string]any) map[string]any {
	if m, ok := casing.ToCamel(resource).(map[string]any); ok {
		return m
	}
	return resource
}

// addV3Envelope adds the signed envelope's own fields to raw, under
// "notification" (the resource never has that member).
func addV3Envelope(n *Notification, env *NotifyV3Envelope) {
	meta := map[string]any{
		"id":           env.ID,
		"createTime":   env.CreateTime,
		"eventType":    env.EventType,
		"resourceType": env.ResourceType,
		"summary":      env.Summary,
	}
	switch e := n.Event.(type) {
	case *NotifyPayment:
		e.Raw["notification"] = meta
	case *NotifyRefund:
		e.Raw["notification"] = meta
	}
}
