package emulator

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// This file builds and sends payment notifications exactly as WeChat Pay
// (v2 XML, APIv3 JSON) and Alipay (signed form) send them, for tests and
// for the emulator's "pay this order". It depends on nothing else in the
// emulator.

// NotifyOrder is what a notification says about an order. Amounts are in
// fen, whatever the provider writes.
type NotifyOrder struct {
	AppID         string // appid / app_id
	MchID         string // WeChat Pay merchant id
	OutTradeNo    string
	TransactionID string // WeChat Pay transaction_id / Alipay trade_no; generated when empty
	TotalFee      int64
	CashFee       int64  // what the payer paid; TotalFee when 0
	FeeType       string // default CNY
	OpenID        string // payer: openid / Alipay buyer_open_id
	// TradeState is the provider's own value: WeChat Pay result_code /
	// trade_state (default SUCCESS), Alipay trade_status (default
	// TRADE_SUCCESS, or TRADE_CLOSED for a full refund).
	TradeState string
	Time       time.Time // payment time (time_end, success_time, gmt_payment); now when zero
	Attach     string    // WeChat Pay attach / Alipay passback_params, optional

	// Refunds.
	OutRefundNo  string
	RefundID     string // generated when empty (WeChat Pay)
	RefundFee    int64
	RefundStatus string // WeChat Pay refund_status, default SUCCESS
}

// WxpayV3NotifySigner is what WeChat Pay signs and encrypts APIv3
// notifications with.
type WxpayV3NotifySigner struct {
	PlatformKey *rsa.PrivateKey // signs; its public half is the merchant's platform_key
	Serial      string          // Wechatpay-Serial: certificate serial or PUB_KEY_ID_…
	APIv3Key    string          // encrypts the resource (32 bytes)
}

// NotifyMessage is a notification ready to send: its headers and the exact
// bytes of its body.
type NotifyMessage struct {
	Header http.Header
	Body   []byte
}

var notifyChinaTime = time.FixedZone("CST", 8*3600)

func (o NotifyOrder) when() time.Time {
	if o.Time.IsZero() {
		return time.Now()
	}
	return o.Time
}

func (o NotifyOrder) cashFee() int64 {
	if o.CashFee == 0 {
		return o.TotalFee
	}
	return o.CashFee
}

func (o NotifyOrder) feeType() string {
	if o.FeeType == "" {
		return "CNY"
	}
	return o.FeeType
}

func notifyOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// notifyDigits is a random-looking run of digits for generated ids.
func notifyDigits(n int) string {
	s := signing.NonceStr()
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteByte('0' + s[i%len(s)]%10)
	}
	return b.String()
}

func (o NotifyOrder) transactionID() string {
	if o.TransactionID != "" {
		return o.TransactionID
	}
	return "4200" + notifyDigits(24)
}

// notifyXML writes params as WeChat Pay's flat <root> document, each value
// in CDATA, keys sorted.
func notifyXML(root string, params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<" + root + ">")
	for _, k := range keys {
		b.WriteString("<" + k + "><![CDATA[")
		b.WriteString(strings.ReplaceAll(params[k], "]]>", "]]]]><![CDATA[>"))
		b.WriteString("]]></" + k + ">")
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}

func notifyXMLHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "text/xml")
	h.Set("User-Agent", "Mozilla/4.0")
	return h
}

// WxpayV2PaymentNotification builds a v2 payment result notification signed
// with the APIv2 key: MD5 (signType "" or "MD5") or "HMAC-SHA256", which is
// then named in sign_type.
func WxpayV2PaymentNotification(o NotifyOrder, key, signType string) (*NotifyMessage, error) {
	p := map[string]string{
		"appid":          o.AppID,
		"mch_id":         o.MchID,
		"nonce_str":      signing.NonceStr(),
		"openid":         o.OpenID,
		"out_trade_no":   o.OutTradeNo,
		"transaction_id": o.transactionID(),
		"total_fee":      strconv.FormatInt(o.TotalFee, 10),
		"cash_fee":       strconv.FormatInt(o.cashFee(), 10),
		"fee_type":       o.feeType(),
		"bank_type":      "OTHERS",
		"trade_type":     "JSAPI",
		"is_subscribe":   "N",
		"return_code":    "SUCCESS",
		"result_code":    notifyOrDefault(o.TradeState, "SUCCESS"),
		"time_end":       o.when().In(notifyChinaTime).Format("20060102150405"),
		"attach":         o.Attach,
	}
	if signType != "" && signType != signing.SignTypeMD5 {
		p["sign_type"] = signType
	}
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	sign, err := signing.WxpayV2Sign(p, key, signType)
	if err != nil {
		return nil, err
	}
	p["sign"] = sign
	return &NotifyMessage{Header: notifyXMLHeader(), Body: notifyXML("xml", p)}, nil
}

// WxpayV2RefundNotification builds a v2 refund result notification: the
// refund in req_info, encrypted with the APIv2 key (AES-256-ECB keyed with
// its lowercase hex MD5).
func WxpayV2RefundNotification(o NotifyOrder, key string) (*NotifyMessage, error) {
	inner := map[string]string{
		"out_refund_no":         o.OutRefundNo,
		"out_trade_no":          o.OutTradeNo,
		"refund_account":        "REFUND_SOURCE_RECHARGE_FUNDS",
		"refund_fee":            strconv.FormatInt(o.RefundFee, 10),
		"refund_id":             notifyOrDefault(o.RefundID, "5000"+notifyDigits(25)),
		"refund_recv_accout":    "支付用户零钱",
		"refund_request_source": "API",
		"refund_status":         notifyOrDefault(o.RefundStatus, "SUCCESS"),
		"settlement_refund_fee": strconv.FormatInt(o.RefundFee, 10),
		"settlement_total_fee":  strconv.FormatInt(o.TotalFee, 10),
		"success_time":          o.when().In(notifyChinaTime).Format(time.DateTime),
		"total_fee":             strconv.FormatInt(o.TotalFee, 10),
		"transaction_id":        o.transactionID(),
	}
	reqInfo, err := signing.EncryptWxpayRefundReqInfo(notifyXML("root", inner), key)
	if err != nil {
		return nil, err
	}
	p := map[string]string{
		"return_code": "SUCCESS",
		"appid":       o.AppID,
		"mch_id":      o.MchID,
		"nonce_str":   signing.NonceStr(),
		"req_info":    reqInfo,
	}
	return &NotifyMessage{Header: notifyXMLHeader(), Body: notifyXML("xml", p)}, nil
}

// WxpayV3TransactionNotification builds an APIv3 TRANSACTION.SUCCESS
// notification (or the event its TradeState names): the transaction
// encrypted with the APIv3 key, the body signed with the platform key.
func WxpayV3TransactionNotification(o NotifyOrder, s WxpayV3NotifySigner) (*NotifyMessage, error) {
	state := notifyOrDefault(o.TradeState, "SUCCESS")
	tx := map[string]any{
		"appid":            o.AppID,
		"mchid":            o.MchID,
		"out_trade_no":     o.OutTradeNo,
		"transaction_id":   o.transactionID(),
		"trade_type":       "JSAPI",
		"trade_state":      state,
		"trade_state_desc": map[bool]string{true: "支付成功", false: state}[state == "SUCCESS"],
		"bank_type":        "OTHERS",
		"success_time":     o.when().In(notifyChinaTime).Format(time.RFC3339),
		"payer":            map[string]string{"openid": o.OpenID},
		"amount": map[string]any{
			"total": o.TotalFee, "payer_total": o.cashFee(),
			"currency": o.feeType(), "payer_currency": o.feeType(),
		},
	}
	if o.Attach != "" {
		tx["attach"] = o.Attach
	}
	summary := "支付成功"
	if state != "SUCCESS" {
		summary = state
	}
	return notifyWxpayV3("TRANSACTION."+state, "transaction", summary, tx, s)
}

// WxpayV3RefundNotification builds an APIv3 REFUND.SUCCESS notification (or
// the event its RefundStatus names: ABNORMAL, CLOSED).
func WxpayV3RefundNotification(o NotifyOrder, s WxpayV3NotifySigner) (*NotifyMessage, error) {
	status := notifyOrDefault(o.RefundStatus, "SUCCESS")
	r := map[string]any{
		"mchid":                 o.MchID,
		"out_trade_no":          o.OutTradeNo,
		"transaction_id":        o.transactionID(),
		"out_refund_no":         o.OutRefundNo,
		"refund_id":             notifyOrDefault(o.RefundID, "5030"+notifyDigits(25)),
		"refund_status":         status,
		"success_time":          o.when().In(notifyChinaTime).Format(time.RFC3339),
		"user_received_account": "支付用户零钱",
		"amount": map[string]any{
			"total": o.TotalFee, "refund": o.RefundFee,
			"payer_total": o.cashFee(), "payer_refund": o.RefundFee,
		},
	}
	return notifyWxpayV3("REFUND."+status, "refund", "退款状态 "+status, r, s)
}

func notifyWxpayV3(eventType, originalType, summary string, resource any, s WxpayV3NotifySigner) (*NotifyMessage, error) {
	if s.PlatformKey == nil || s.Serial == "" {
		return nil, errors.New("emulator: APIv3 notification needs a platform key and its serial")
	}
	plain, err := json.Marshal(resource)
	if err != nil {
		return nil, err
	}
	nonce := signing.NonceStr()[:12]
	ct, err := signing.EncryptAEADAES256GCM(s.APIv3Key, originalType, nonce, plain)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	body, err := json.Marshal(map[string]any{
		"id":            "EV-" + notifyDigits(20),
		"create_time":   now.In(notifyChinaTime).Format(time.RFC3339),
		"resource_type": "encrypt-resource",
		"event_type":    eventType,
		"summary":       summary,
		"resource": map[string]string{
			"original_type":   originalType,
			"algorithm":       "AEAD_AES_256_GCM",
			"ciphertext":      ct,
			"associated_data": originalType,
			"nonce":           nonce,
		},
	})
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	hnonce := signing.NonceStr()
	sig, err := signing.RSASHA256Sign(s.PlatformKey, signing.WxpayV3VerifyMessage(ts, hnonce, body))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Mozilla/4.0")
	h.Set("Wechatpay-Nonce", hnonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Serial", s.Serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return &NotifyMessage{Header: h, Body: body}, nil
}

func (o NotifyOrder) alipayParams() map[string]string {
	at := o.when().In(notifyChinaTime)
	p := map[string]string{
		"app_id":           o.AppID,
		"auth_app_id":      o.AppID,
		"charset":          "utf-8",
		"version":          "1.0",
		"sign_type":        "RSA2",
		"notify_type":      "trade_status_sync",
		"notify_id":        "2023" + notifyDigits(30),
		"notify_time":      time.Now().In(notifyChinaTime).Format(time.DateTime),
		"trade_no":         o.transactionID(),
		"out_trade_no":     o.OutTradeNo,
		"buyer_open_id":    o.OpenID,
		"seller_id":        "2088" + notifyDigits(12),
		"subject":          "unicloud emulator order",
		"trade_status":     notifyOrDefault(o.TradeState, "TRADE_SUCCESS"),
		"total_amount":     yuan(o.TotalFee),
		"receipt_amount":   yuan(o.cashFee()),
		"invoice_amount":   yuan(o.cashFee()),
		"buyer_pay_amount": yuan(o.cashFee()),
		"point_amount":     "0.00",
		"fund_bill_list":   `[{"amount":"` + yuan(o.cashFee()) + `","fundChannel":"ALIPAYACCOUNT"}]`,
		"gmt_create":       at.Add(-3 * time.Second).Format(time.DateTime),
		"gmt_payment":      at.Format(time.DateTime),
		"passback_params":  o.Attach,
	}
	return p
}

// alipayNotification signs params the way Alipay signs trade notifications
// (RSA2 over the sorted fields without sign and sign_type) and form-encodes
// them.
func notifyAlipayForm(p map[string]string, key *rsa.PrivateKey) (*NotifyMessage, error) {
	if key == nil {
		return nil, errors.New("emulator: Alipay notification needs a signing key")
	}
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	sign, err := signing.AlipaySign(key, []byte(signing.AlipaySignContent(p, false)), signing.SignTypeRSA2)
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	h.Set("User-Agent", "Mozilla/4.0")
	return &NotifyMessage{Header: h, Body: []byte(form.Encode())}, nil
}

// AlipayTradeNotification builds an Alipay trade_status_sync notification,
// signed RSA2 with key (standing in for Alipay's private key: the
// verifier's alipay_public_key is its public half).
func AlipayTradeNotification(o NotifyOrder, key *rsa.PrivateKey) (*NotifyMessage, error) {
	return notifyAlipayForm(o.alipayParams(), key)
}

// AlipayRefundNotification builds the notification Alipay sends after a
// refund: the trade's fields plus refund_fee (the total refunded so far),
// gmt_refund and out_biz_no; trade_status TRADE_CLOSED after a full refund.
func AlipayRefundNotification(o NotifyOrder, key *rsa.PrivateKey) (*NotifyMessage, error) {
	p := o.alipayParams()
	p["refund_fee"] = yuan(o.RefundFee)
	p["gmt_refund"] = time.Now().In(notifyChinaTime).Format("2006-01-02 15:04:05.000")
	p["out_biz_no"] = o.OutRefundNo
	if o.TradeState == "" && o.RefundFee >= o.TotalFee {
		p["trade_status"] = "TRADE_CLOSED"
	}
	return notifyAlipayForm(p, key)
}

// notifyClient sends notifications; providers give up after a few seconds.
// notifyClient follows no redirect: a notification goes to its notify_url
// only.
var notifyClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// SendNotification POSTs a notification to url and returns the status and
// (at most 64 KiB of) the body of the answer.
func SendNotification(ctx context.Context, url string, m *NotifyMessage) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range m.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := notifyClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, err
}

func sendNotifyMessage(ctx context.Context, url string, m *NotifyMessage, err error) (int, []byte, error) {
	if err != nil {
		return 0, nil, err
	}
	return SendNotification(ctx, url, m)
}

// SendWxpayV2Payment sends a v2 payment notification signed MD5 with key.
func SendWxpayV2Payment(ctx context.Context, url string, o NotifyOrder, key string) (int, []byte, error) {
	m, err := WxpayV2PaymentNotification(o, key, signing.SignTypeMD5)
	return sendNotifyMessage(ctx, url, m, err)
}

// SendWxpayV2Refund sends a v2 refund notification encrypted with key.
func SendWxpayV2Refund(ctx context.Context, url string, o NotifyOrder, key string) (int, []byte, error) {
	m, err := WxpayV2RefundNotification(o, key)
	return sendNotifyMessage(ctx, url, m, err)
}

// SendWxpayV3Transaction sends an APIv3 TRANSACTION.SUCCESS notification.
func SendWxpayV3Transaction(ctx context.Context, url string, o NotifyOrder, s WxpayV3NotifySigner) (int, []byte, error) {
	m, err := WxpayV3TransactionNotification(o, s)
	return sendNotifyMessage(ctx, url, m, err)
}

// SendWxpayV3Refund sends an APIv3 REFUND.SUCCESS notification.
func SendWxpayV3Refund(ctx context.Context, url string, o NotifyOrder, s WxpayV3NotifySigner) (int, []byte, error) {
	m, err := WxpayV3RefundNotification(o, s)
	return sendNotifyMessage(ctx, url, m, err)
}

// SendAlipayTrade sends an Alipay trade notification signed RSA2 with key.
func SendAlipayTrade(ctx context.Context, url string, o NotifyOrder, key *rsa.PrivateKey) (int, []byte, error) {
	m, err := AlipayTradeNotification(o, key)
	return sendNotifyMessage(ctx, url, m, err)
}

// SendAlipayRefund sends an Alipay refund notification signed RSA2 with key.
func SendAlipayRefund(ctx context.Context, url string, o NotifyOrder, key *rsa.PrivateKey) (int, []byte, error) {
	m, err := AlipayRefundNotification(o, key)
	return sendNotifyMessage(ctx, url, m, err)
}
