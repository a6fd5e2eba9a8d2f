package wxpay

import (
	"context"
	"errors"

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
	params, err := ParseNotifyXML(body, "xml")
	if err != nil {
		return nil, &NotifyError{Provider: "wxpay", Check: CheckMalformed, Err: err}
	}
	if v.Key == "" {
		return nil, refuse(CheckSignature, "v2 notification, but no APIv2 key is configured")
	}
	// An empty req_info is still a refund notification (that does not
	// decrypt), not a payment result without a sign.
	_, refund := params["req_info"]
	dropEmpty(params)
	if refund {
		return v.verifyV2Refund(ctx, params)
	}
	return v.verifyV2Payment(params)
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

func (v *NotifyVerifier) checkV2Merchant(params map[string]string) error {
	if err := checkMerchant("appid", v.AppID, params["appid"]); err != nil {
		return err
	}
	return checkMerchant("mch_id", v.MchID, params["mch_id"])
}

func (v *NotifyVerifier) verifyV2Payment(params map[string]string) (*Notification, error) {
	if err := v.verifyV2Sign(params); err != nil {
		return nil, err
	}
	if err := v.checkV2Merchant(params); err != nil {
		return nil, err
	}
	if params["return_code"] != "SUCCESS" {
		return nil, refuse(CheckMalformed, "return_code is not SUCCESS")
	}
	if params["out_trade_no"] == "" {
		return nil, refuse(CheckMalformed, "out_trade_no is absent")
	}
	total, err := parseFen("total_fee", params["total_fee"])
	if err != nil {
		return nil, err
	}
	cash, err := parseOptionalFen("cash_fee", params["cash_fee"])
	if err != nil {
		return nil, err
	}
	feeType := params["fee_type"]
	if feeType == "" {
		feeType = "CNY" // WeChat Pay's documented default
	}
	state := "SUCCESS"
	if params["result_code"] != "SUCCESS" {
		state = "PAYERROR"
	}
	return &Notification{
		Version: NotifyV2,
		Kind:    NotifyPaymentKind,
		Event: &NotifyPayment{
			Provider:      "wxpay",
			Type:          NotifyPaymentKind,
			OutTradeNo:    params["out_trade_no"],
			TransactionID: params["transaction_id"],
			TotalFee:      total,
			CashFee:       cash,
			FeeType:       feeType,
			TimeEnd:       params["time_end"], // already yyyyMMddHHmmss, China time
			OpenID:        params["openid"],
			TradeState:    state,
			Raw:           rawV2(params),
		},
	}, nil
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
	inner, err := ParseNotifyXML(plain, "root")
	if errors.Is(err, errXMLDuplicate) {
		return nil, refuse(CheckMalformed, "req_info: %v", err)
	}
	if err != nil {
		return nil, refuse(CheckDecrypt, "req_info does not decrypt to a refund: %v", err)
	}
	dropEmpty(inner)
	if err := v.checkV2Merchant(params); err != nil {
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
