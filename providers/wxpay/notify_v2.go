package wxpay

import (
	"errors"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/signing"
)

// VerifyV2 checks a WeChat Pay v2 notification, given the exact bytes of its
// XML body: a payment result (signed with the APIv2 key, MD5 or the
// sign_type it names) or a refund result (req_info, decrypted with the
// APIv2 key). Checks in order: the document is readable, the signature (or,
// for refunds, the decryption), the merchant identity.
func (v *NotifyVerifier) VerifyV2(body []byte) (*Notification, error) {
	params, err := ParseNotifyXML(body, "xml")
	if err != nil {
		return nil, &NotifyError{Provider: "wxpay", Check: CheckMalformed, Err: err}
	}
	if v.Key == "" {
		return nil, refuse(CheckSignature, "v2 notification, but no APIv2 key is configured")
	}
	if _, ok := params["req_info"]; ok {
		return v.verifyV2Refund(params)
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

func (v *NotifyVerifier) verifyV2Refund(params map[string]string) (*Notification, error) {
	// A refund notification is not signed: req_info is its authentication.
	// It decrypts (with strict PKCS#7 padding) and holds a readable <root>
	// only when it was encrypted with this merchant's APIv2 key.
	plain, err := signing.DecryptWxpayRefundReqInfo(params["req_info"], v.Key)
	if err != nil {
		return nil, refuse(CheckDecrypt, "req_info does not decrypt with the APIv2 key")
	}
	inner, err := ParseNotifyXML(plain, "root")
	if err != nil {
		return nil, refuse(CheckDecrypt, "req_info does not decrypt to a refund: %v", err)
	}
	if err := v.checkV2Merchant(params); err != nil {
		return nil, err
	}
	if params["return_code"] != "SUCCESS" {
		return nil, refuse(CheckMalformed, "return_code is not SUCCESS")
	}
	if inner["out_refund_no"] == "" && inner["refund_id"] == "" {
		return nil, refuse(CheckMalformed, "req_info has neither out_refund_no nor refund_id")
	}
	total, err := parseFen("total_fee", inner["total_fee"])
	if err != nil {
		return nil, err
	}
	refund, err := parseFen("refund_fee", inner["refund_fee"])
	if err != nil {
		return nil, err
	}
	// settlement_total_fee is sent only when a non-recharge coupon was used
	// (it is the order amount minus that coupon): absent, it is total_fee.
	settlementTotal, settlementRefund := total, refund
	if inner["settlement_total_fee"] != "" {
		if settlementTotal, err = parseFen("settlement_total_fee", inner["settlement_total_fee"]); err != nil {
			return nil, err
		}
	}
	if inner["settlement_refund_fee"] != "" {
		if settlementRefund, err = parseFen("settlement_refund_fee", inner["settlement_refund_fee"]); err != nil {
			return nil, err
		}
	}
	// raw: the decrypted fields only. The outer ones (appid, mch_id,
	// return_code…) are not signed in a refund notification: anyone
	// replaying a req_info could set them, so a backend must not take them
	// as verified.
	merged := inner
	return &Notification{
		Version: NotifyV2,
		Kind:    NotifyRefundKind,
		Event: &NotifyRefund{
			Provider:            "wxpay",
			Type:                NotifyRefundKind,
			OutTradeNo:          inner["out_trade_no"],
			TransactionID:       inner["transaction_id"],
			OutRefundNo:         inner["out_refund_no"],
			RefundID:            inner["refund_id"],
			TotalFee:            total,
			RefundFee:           refund,
			SettlementTotalFee:  settlementTotal,
			SettlementRefundFee: settlementRefund,
			RefundStatus:        inner["refund_status"],
			RefundAccount:       inner["refund_account"],
			RefundRecvAccout:    inner["refund_recv_accout"],
			Raw:                 rawV2(merged),
		},
	}, nil
}

// rawV2 is the raw member of a v2 event: every field camelCased, sign
// left out.
func rawV2(params map[string]string) map[string]any { return payevent.Raw(params) }
