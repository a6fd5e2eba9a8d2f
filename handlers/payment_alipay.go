package handlers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// parseAppKey reads an Alipay application private key. Both PKCS#8 and
// PKCS#1 are read whatever keyType says (a mismatch is only logged: the
// key itself says what it is).
func parseAppKey(pemOrBase64, keyType string, logger *zap.Logger) (*rsa.PrivateKey, error) {
	key, err := signing.ParseRSAPrivateKey(pemOrBase64)
	if err != nil {
		return nil, err
	}
	if form := keyForm(pemOrBase64); form != "" && form != keyType && logger != nil {
		logger.Info("the Alipay private key is not in the form key_type names; it is read anyway",
			zap.String("key_type", keyType), zap.String("found", form))
	}
	return key, nil
}

// keyForm tells PKCS1 from PKCS8 by the PEM type, or for bare base64 by
// trying PKCS#8.
func keyForm(s string) string {
	switch {
	case strings.Contains(s, "BEGIN RSA PRIVATE KEY"):
		return "PKCS1"
	case strings.Contains(s, "BEGIN PRIVATE KEY"):
		return "PKCS8"
	case strings.Contains(s, "-----BEGIN"):
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return ""
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return "PKCS8"
	}
	return "PKCS1"
}

// alipayRenamed are caller parameters with an Alipay name of their own.
var alipayRenamed = map[string]string{
	"transactionId": "trade_no",
	"outRefundNo":   "out_request_no",
	"refundDesc":    "refund_reason",
	"refundFeeType": "refund_currency",
}

// alipayPublic are caller parameters sent beside biz_content, not in it.
var alipayPublic = map[string]string{
	"notifyUrl":    "notify_url",
	"returnUrl":    "return_url",
	"appAuthToken": "app_auth_token",
}

// alipayDropped are caller parameters the gateway handles itself:
// the amounts in fen (converted), the payer (openid), the client type,
// and WeChat Pay's own fields.
var alipayDropped = map[string]bool{
	"clientType": true, "totalFee": true, "refundFee": true, "openid": true,
	"appId": true, "sign": true, "signType": true, "tradeType": true, "spbillCreateIp": true,
}

// alipayIDs are the biz_content members that are identifiers: always
// strings.
var alipayIDs = map[string]bool{"trade_no": true, "out_trade_no": true, "out_request_no": true}

// alipayBiz converts the caller's parameters to biz_content members
// (snake_case, nested keys too) and the public parameters beside it.
// Amounts in yuan are refused: callers give fen (totalFee, refundFee).
func alipayBiz(in payParams) (map[string]any, map[string]string, error) {
	biz := make(map[string]any, len(in)+3)
	extra := map[string]string{}
	for k, v := range in {
		if v == nil || alipayDropped[k] {
			continue
		}
		if name, ok := alipayPublic[k]; ok {
			s, err := text(k, v)
			if err != nil {
				return nil, nil, err
			}
			extra[name] = s
			continue
		}
		name, ok := alipayRenamed[k]
		if !ok {
			name = casing.SnakeKey(k)
		}
		if name == "amount" || strings.HasSuffix(name, "_amount") {
			return nil, nil, newError(http.StatusBadRequest, ErrBadRequest, "amounts are given in fen (totalFee, refundFee), not in yuan: "+k)
		}
		if n, ok := v.(json.Number); ok && alipayIDs[name] {
			v = n.String() // an order number written as a JSON number
		}
		biz[name] = casing.ToSnake(v)
	}
	return biz, extra, nil
}

func (h *Payment) alipayCall(ctx context.Context, name string, in payParams) (map[string]any, error) {
	switch name {
	case callDownloadBill, callDownloadFundflow:
		return nil, newError(http.StatusBadRequest, ErrNotSupported, name+" is not supported by Alipay")
	}
	biz, extra, err := alipayBiz(in)
	if err != nil {
		return nil, err
	}
	method := ""
	switch name {
	case callGetOrderInfo:
		return h.alipayOrder(ctx, in, biz, extra)
	case callOrderQuery:
		method = alipay.MethodTradeQuery
	case callCloseOrder:
		method = alipay.MethodTradeClose
	case callCancelOrder:
		method = alipay.MethodTradeCancel
	case callRefund:
		method = alipay.MethodTradeRefund
		fee, err := in.positiveFen("refundFee")
		if err != nil {
			return nil, err
		}
		// Alipay does not need the order's total, but a caller who gives
		// one gives it in fen like every amount, and never less than the
		// refund.
		if total, ok, err := in.fen("totalFee", false); err != nil {
			return nil, err
		} else if ok && total < fee {
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must not be less than refundFee: totalFee")
		}
		biz["refund_amount"] = alipay.FenToYuan(fee)
		delete(extra, "notify_url") // Alipay notifies the order's notify_url
	case callRefundQuery:
		method = alipay.MethodTradeRefundQuery
		if biz["out_request_no"] == nil {
			// A refund made without out_request_no is named by the order's
			// out_trade_no.
			otn, err := in.str("outTradeNo")
			if err != nil {
				return nil, err
			}
			if otn == "" {
				return nil, missing("outRefundNo")
			}
			biz["out_request_no"] = otn
		}
	default:
		return nil, newError(http.StatusBadRequest, ErrNotSupported, name+" is not supported by Alipay")
	}
	if _, _, err := in.oneOf("transactionId", "outTradeNo"); err != nil {
		return nil, err
	}
	bizJSON, err := json.Marshal(biz)
	if err != nil {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameters cannot be encoded")
	}
	fields, err := h.ali.Execute(ctx, method, bizJSON, extra)
	if err != nil {
		return nil, err
	}
	out, err := alipay.Answer(fields)
	if err != nil {
		return nil, newError(http.StatusBadGateway, ErrUpstream, err.Error())
	}
	if name == callRefund {
		if orn, _ := in.str("outRefundNo"); orn != "" {
			out["outRefundNo"] = orn
		}
	}
	return out, nil
}

// alipayOrder creates a mini-program trade (alipay.trade.create:
// orderInfo {tradeNo}) or signs an app payment (alipay.trade.app.pay:
// orderInfo is the order string, no network call).
func (h *Payment) alipayOrder(ctx context.Context, in payParams, biz map[string]any, extra map[string]string) (map[string]any, error) {
	clientType, err := in.str("clientType")
	if err != nil {
		return nil, err
	}
	openid, err := in.str("openid")
	if err != nil {
		return nil, err
	}
	if clientType == "" {
		if openid == "" {
			return nil, missing("clientType (or the X-Unicloud-Client-Type header)")
		}
		clientType = "mp-alipay"
	}
	if clientType != "mp-alipay" && clientType != "app-plus" {
		return nil, newError(http.StatusBadRequest, ErrNotSupported, "clientType "+strconv.Quote(clientType)+" is not supported by Alipay (mp-alipay, app-plus)")
	}
	if _, err := in.required("subject"); err != nil {
		return nil, err
	}
	if _, err := in.required("outTradeNo"); err != nil {
		return nil, err
	}
	fee, err := in.positiveFen("totalFee")
	if err != nil {
		return nil, err
	}
	biz["total_amount"] = alipay.FenToYuan(fee)
	if extra["notify_url"] == "" {
		if h.NotifyURL == "" {
			return nil, missing("notifyUrl (no notify_url is configured)")
		}
		extra["notify_url"] = h.NotifyURL
	}
	if clientType == "app-plus" {
		if biz["product_code"] == nil {
			biz["product_code"] = alipay.AppPayProductCode
		}
		bizJSON, err := json.Marshal(biz)
		if err != nil {
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameters cannot be encoded")
		}
		s, err := h.ali.OrderString(alipay.MethodTradeAppPay, bizJSON, extra)
		if err != nil {
			return nil, err
		}
		return map[string]any{"orderInfo": s}, nil
	}
	if openid == "" {
		return nil, missing("openid")
	}
	biz[alipay.BuyerField(openid)] = openid
	bizJSON, err := json.Marshal(biz)
	if err != nil {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameters cannot be encoded")
	}
	fields, err := h.ali.Execute(ctx, alipay.MethodTradeCreate, bizJSON, extra)
	if err != nil {
		return nil, err
	}
	out, err := alipay.Answer(fields)
	if err != nil {
		return nil, newError(http.StatusBadGateway, ErrUpstream, err.Error())
	}
	tradeNo, _ := fields["trade_no"].(string)
	if tradeNo == "" {
		return nil, newError(http.StatusBadGateway, ErrUpstream, "alipay.trade.create answered no trade_no")
	}
	out["orderInfo"] = map[string]any{"tradeNo": tradeNo}
	return out, nil
}
