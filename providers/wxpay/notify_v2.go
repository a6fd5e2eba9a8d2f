package wxpay

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/signing"
)

// VerifyV2 checks a WeChat Pay v2 notification, given the exact bytes of its
// XML body: a payment result (signed with the APIv2 key, MD5 or the
// sign_type it names) or a refund result (req_info, decrypted with the
// APIv2 key, then confirmed with the refund query). Checks in order: the
// document is readable, the signature (or, for refunds, the decryption),
// the merchant identity, and for refunds the refund query. Fields with
// empty values, which WeChat Pay does not sign, are dropped first.
func (v *NotifyVerifier) VerifyV2(ctx context.Context, body []byte) (*Notification, error) {
	sc := v2Scratches.Get().(*v2Scratch)
	defer sc.release()
	if err := readNotifyXMLSorted(body, "xml", &sc.fields); err != nil {
		return nil, &NotifyError{Provider: "wxpay", Check: CheckMalformed, Err: err}
	}
	if v.Key == "" {
		return nil, refuse(CheckSignature, "v2 notification, but no APIv2 key is configured")
	}
	// An empty req_info is still a refund notification (that does not
	// decrypt), not a payment result without a sign.
	_, refund := sc.lookup("req_info")
	sc.dropEmpty()
	if refund {
		return v.verifyV2Refund(ctx, sc.toMap())
	}
	return v.verifyV2Payment(sc)
}

// verifyV2Sign checks params["sign"]. A notification without sign_type is
// MD5 by WeChat Pay's rules; one whose 64-hex-digit sign only fits
// HMAC-SHA256 (an order placed with HMAC-SHA256 whose notification left out
// sign_type) is checked that way too: both are keyed, so trying the second
// lets nothing unsigned in.
func (v *NotifyVerifier) verifyV2Sign(params map[string]string) error {
	err := signing.WxpayV2Verify(params, v.Key)
	if err != nil && params["sign_type"] == "" && len(params["sign"]) == 64 && errors.Is(err, signing.ErrBadSignature) {
		err = signing.WxpayV2VerifyType(params, v.Key, signing.SignTypeHMACSHA256)
	}
	if err != nil {
		if errors.Is(err, signing.ErrMissingSignature) {
			return refuse(CheckSignature, "sign is absent")
		}
		if errors.Is(err, signing.ErrUnsupportedSignType) {
			return refuse(CheckSignature, "sign_type %q is not supported", shortID(params["sign_type"]))
		}
		return refuse(CheckSignature, "sign does not verify")
	}
	return nil
}

// v2Scratch is the pooled memory of one v2 verification: the fields of the
// notification sorted by name, and the sign string (which holds the key:
// cleared after use).
type v2Scratch struct {
	fields []payevent.Field
	buf    []byte
}

// lookup finds a field by name.
func (sc *v2Scratch) lookup(name string) (string, bool) {
	i, ok := slices.BinarySearchFunc(sc.fields, name, func(f payevent.Field, name string) int { return strings.Compare(f.Name, name) })
	if !ok {
		return "", false
	}
	return sc.fields[i].Value, true
}

// get is the value of a field, "" when absent.
func (sc *v2Scratch) get(name string) string {
	v, _ := sc.lookup(name)
	return v
}

// dropEmpty removes the fields whose value is empty (see payevent.DropEmpty).
func (sc *v2Scratch) dropEmpty() {
	sc.fields = slices.DeleteFunc(sc.fields, func(f payevent.Field) bool { return f.Value == "" })
}

// toMap returns the fields as a map.
func (sc *v2Scratch) toMap() map[string]string {
	m := make(map[string]string, len(sc.fields))
	for _, f := range sc.fields {
		m[f.Name] = f.Value
	}
	return m
}

var v2Scratches = sync.Pool{New: func() any { return new(v2Scratch) }}

// release clears the scratch (it keeps no name of the document and no byte
// of the key) and pools it, unless a huge document grew it.
func (sc *v2Scratch) release() {
	clear(sc.buf[:cap(sc.buf)])
	clear(sc.fields[:cap(sc.fields)])
	if cap(sc.fields) > maxNotifyXMLFields || cap(sc.buf) > 64<<10 {
		return
	}
	sc.fields, sc.buf = sc.fields[:0], sc.buf[:0]
	v2Scratches.Put(sc)
}

// verifyV2SignFast is verifyV2Sign for MD5 and HMAC-SHA256, the sign string
// built once from the sorted fields into pooled memory, the digest on the
// stack. Anything else (no sign, another sign_type, a sign that is not hex)
// takes verifyV2Sign, whose refusals it keeps.
func (v *NotifyVerifier) verifyV2SignFast(sc *v2Scratch) error {
	signType, got := sc.get("sign_type"), sc.get("sign")
	var want [sha256.Size]byte
	if len(got) != 2*md5.Size && len(got) != 2*sha256.Size || (signType != "" && signType != signing.SignTypeMD5 && signType != signing.SignTypeHMACSHA256) {
		return v.verifyV2Sign(sc.toMap())
	}
	n, ok := decodeHexString(want[:], got)
	if !ok {
		return v.verifyV2Sign(sc.toMap())
	}
	sc.buf = appendV2SignString(sc.buf[:0], sc.fields, v.Key)
	var sum [sha256.Size]byte
	ok = false
	if signType != signing.SignTypeHMACSHA256 && n == md5.Size {
		d := md5.Sum(sc.buf)
		ok = hmac.Equal(d[:], want[:n])
	}
	// A notification without sign_type whose sign has 64 hex digits is
	// checked with HMAC-SHA256 too (see verifyV2Sign).
	if !ok && n == sha256.Size && (signType == signing.SignTypeHMACSHA256 || signType == "") {
		h := hmac.New(sha256.New, []byte(v.Key))
		h.Write(sc.buf)
		ok = hmac.Equal(h.Sum(sum[:0]), want[:n])
	}
	if !ok {
		return refuse(CheckSignature, "sign does not verify")
	}
	return nil
}

// decodeHexString decodes the hex digits of s (either case) into dst, which
// must hold len(s)/2 bytes, without converting s to a byte slice.
func decodeHexString(dst []byte, s string) (int, bool) {
	if len(s)%2 != 0 || len(s)/2 > len(dst) {
		return 0, false
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := fromHexChar(s[i])
		lo, ok2 := fromHexChar(s[i+1])
		if !ok1 || !ok2 {
			return 0, false
		}
		dst[i/2] = hi<<4 | lo
	}
	return len(s) / 2, true
}

func fromHexChar(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendV2SignString appends the WeChat Pay v2 sign string of fields
// (sorted by name, none empty): k=v joined by &, sign left out, then &key=
// and the key, as signing.WxpayV2SignString builds it.
func appendV2SignString(dst []byte, fields []payevent.Field, key string) []byte {
	for _, f := range fields {
		if f.Name == "sign" {
			continue
		}
		dst = append(dst, f.Name...)
		dst = append(dst, '=')
		dst = append(dst, f.Value...)
		dst = append(dst, '&')
	}
	dst = append(dst, "key="...)
	return append(dst, key...)
}

func (v *NotifyVerifier) checkV2Merchant(appID, mchID string) error {
	if err := checkMerchant("appid", v.AppID, appID); err != nil {
		return err
	}
	return checkMerchant("mch_id", v.MchID, mchID)
}

func (v *NotifyVerifier) verifyV2Payment(sc *v2Scratch) (*Notification, error) {
	if err := v.verifyV2SignFast(sc); err != nil {
		return nil, err
	}
	if err := v.checkV2Merchant(sc.get("appid"), sc.get("mch_id")); err != nil {
		return nil, err
	}
	if sc.get("return_code") != "SUCCESS" {
		return nil, refuse(CheckMalformed, "return_code is not SUCCESS")
	}
	if sc.get("out_trade_no") == "" {
		return nil, refuse(CheckMalformed, "out_trade_no is absent")
	}
	total, err := parseFen("total_fee", sc.get("total_fee"))
	if err != nil {
		return nil, err
	}
	cash, err := parseOptionalFen("cash_fee", sc.get("cash_fee"))
	if err != nil {
		return nil, err
	}
	feeType := sc.get("fee_type")
	if feeType == "" {
		feeType = "CNY" // WeChat Pay's documented default
	}
	state := "SUCCESS"
	if sc.get("result_code") != "SUCCESS" {
		state = "PAYERROR"
	}
	// The notification and its event in one allocation.
	r := &struct {
		n Notification
		e NotifyPayment
	}{}
	r.e = NotifyPayment{
		Provider:      "wxpay",
		Type:          NotifyPaymentKind,
		OutTradeNo:    sc.get("out_trade_no"),
		TransactionID: sc.get("transaction_id"),
		TotalFee:      total,
		CashFee:       cash,
		FeeType:       feeType,
		TimeEnd:       sc.get("time_end"), // already yyyyMMddHHmmss, China time
		OpenID:        sc.get("openid"),
		TradeState:    state,
		Raw:           payevent.RawFields(sc.fields),
	}
	r.n = Notification{Version: NotifyV2, Kind: NotifyPaymentKind, Event: &r.e}
	return &r.n, nil
}

func (v *NotifyVerifier) verifyV2Refund(ctx context.Context, params map[string]string) (*Notification, error) {
	// A refund notification is not signed: req_info is only encrypted
	// (AES-256-ECB, no MAC). It decrypts (with strict PKCS#7 padding) and
	// holds a readable <root> only when it was encrypted with this
	// merchant's APIv2 key — but its blocks can be rearranged without the
	// key, so what it says is confirmed with the refund query below.
	plain, err := signing.DecryptWxpayRefundReqInfo(params["req_info"], v.Key)
	if err != nil {
		return nil, refuse(CheckDecrypt, "req_info does not decrypt with the APIv2 key")
	}
	inner, _, err := readNotifyXML(plain, "root", true)
	if errors.Is(err, errXMLDuplicate) {
		return nil, refuse(CheckMalformed, "req_info: %v", err)
	}
	if err != nil {
		return nil, refuse(CheckDecrypt, "req_info does not decrypt to a refund: %v", err)
	}
	if err := v.checkV2Merchant(params["appid"], params["mch_id"]); err != nil {
		return nil, err
	}
	if params["return_code"] != "SUCCESS" {
		return nil, refuse(CheckMalformed, "return_code is not SUCCESS")
	}
	if inner["out_refund_no"] == "" {
		return nil, refuse(CheckMalformed, "req_info has no out_refund_no")
	}
	for _, f := range []string{"total_fee", "refund_fee"} {
		if _, err := parseFen(f, inner[f]); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"settlement_total_fee", "settlement_refund_fee"} {
		if _, err := parseOptionalFen(f, inner[f]); err != nil {
			return nil, err
		}
	}

	confirmed, answer, err := v.confirmV2Refund(ctx, params, inner)
	if err != nil {
		return nil, err
	}
	// From here on only the confirmed fields are used.
	total, _ := parseFen("total_fee", confirmed["total_fee"])
	refund, _ := parseFen("refund_fee", confirmed["refund_fee"])
	// settlement_total_fee is sent only when a non-recharge coupon was used
	// (it is the order amount minus that coupon): absent, it is total_fee.
	// One the notification lacks is taken from the (signed) query answer.
	settlementTotal, err := settlementFee("settlement_total_fee", confirmed, answer, "settlement_total_fee", total)
	if err != nil {
		return nil, err
	}
	settlementRefund, err := settlementFee("settlement_refund_fee", confirmed, nil, "", refund)
	if err != nil {
		return nil, err
	}
	// raw: the confirmed decrypted fields only. The outer ones (appid,
	// mch_id, return_code…) are not signed in a refund notification, and
	// the req_info fields the query does not return (refund_request_source)
	// cannot be confirmed: a backend must not take them as verified.
	return &Notification{
		Version: NotifyV2,
		Kind:    NotifyRefundKind,
		Event: &NotifyRefund{
			Provider:            "wxpay",
			Type:                NotifyRefundKind,
			OutTradeNo:          confirmed["out_trade_no"],
			TransactionID:       confirmed["transaction_id"],
			OutRefundNo:         confirmed["out_refund_no"],
			RefundID:            confirmed["refund_id"],
			TotalFee:            total,
			RefundFee:           refund,
			SettlementTotalFee:  settlementTotal,
			SettlementRefundFee: settlementRefund,
			RefundStatus:        confirmed["refund_status"],
			RefundAccount:       confirmed["refund_account"],
			RefundRecvAccout:    confirmed["refund_recv_accout"],
			Raw:                 rawV2(confirmed),
		},
	}, nil
}

// settlementFee is a confirmed settlement amount, else the query answer's
// field (when given), else def.
func settlementFee(field string, confirmed, answer map[string]string, answerField string, def int64) (int64, error) {
	if s, ok := confirmed[field]; ok {
		return parseFen(field, s)
	}
	if s, ok := answer[answerField]; ok && answerField != "" {
		return parseFen(field, s)
	}
	return def, nil
}

// rawV2 is the raw member of a v2 event: every field camelCased, sign
// left out.
func rawV2(params map[string]string) map[string]any { return payevent.Raw(params) }
