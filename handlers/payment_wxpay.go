package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// wxpayDropped are caller parameters never sent to WeChat Pay as given:
// the gateway sets the merchant's identity, nonce and signature itself,
// clientType chooses the trade type, and subject is Alipay's.
var wxpayDropped = map[string]bool{
	"client_type": true, "appid": true, "mch_id": true, "sign": true, "sign_type": true,
	"nonce_str": true, "key": true, "subject": true,
}

// wxpayTradeTypes maps an explicit tradeType (as uni-pay callers send it)
// to the client type.
var wxpayTradeTypes = map[string]string{"JSAPI": "mp-weixin", "APP": "app-plus", "NATIVE": "native", "MWEB": "h5"}

// wxpayParams converts the caller's parameters to WeChat Pay fields:
// snake_case names, text values; amounts (*_fee) must be integer fen.
func wxpayParams(in payParams) (map[string]string, error) {
	p := make(map[string]string, len(in)+4)
	for k, v := range in {
		if v == nil {
			continue
		}
		name := casing.SnakeKey(k)
		if wxpayDropped[name] {
			continue
		}
		if strings.HasSuffix(name, "_fee") {
			n, err := parseFen(v)
			if err != nil {
				return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be an integer number of fen: "+k)
			}
			p[name] = strconv.FormatInt(n, 10)
			continue
		}
		s, err := text(k, v)
		if err != nil {
			return nil, err
		}
		p[name] = s
	}
	return p, nil
}

func (h *Payment) wxpayCall(ctx context.Context, name string, in payParams) (map[string]any, error) {
	if name == callCancelOrder {
		return nil, newError(http.StatusBadRequest, ErrNotSupported, "cancelOrder is not supported by WeChat Pay (use closeOrder or refund)")
	}
	p, err := wxpayParams(in)
	if err != nil {
		return nil, err
	}
	switch name {
	case callGetOrderInfo:
		return h.wxpayOrder(ctx, in, p)
	case callOrderQuery:
		if _, _, err := in.oneOf("transactionId", "outTradeNo"); err != nil {
			return nil, err
		}
		return h.wxpayAnswer(ctx, wxpay.APIOrderQuery, p)
	case callCloseOrder:
		if _, err := in.required("outTradeNo"); err != nil {
			return nil, err
		}
		return h.wxpayAnswer(ctx, wxpay.APICloseOrder, p)
	case callRefund:
		if _, _, err := in.oneOf("transactionId", "outTradeNo"); err != nil {
			return nil, err
		}
		if _, err := in.required("outRefundNo"); err != nil {
			return nil, err
		}
		for _, f := range []string{"totalFee", "refundFee"} {
			if _, err := in.positiveFen(f); err != nil {
				return nil, err
			}
		}
		return h.wxpayAnswer(ctx, wxpay.APIRefund, p)
	case callRefundQuery:
		if _, _, err := in.oneOf("refundId", "outRefundNo", "transactionId", "outTradeNo"); err != nil {
			return nil, err
		}
		fields, err := h.wx.Call(ctx, wxpay.APIRefundQuery, p)
		if err != nil {
			return nil, err
		}
		return wxpay.RefundQueryAnswer(fields), nil
	case callDownloadBill:
		if err := billDate(in); err != nil {
			return nil, err
		}
		if p["bill_type"] == "" {
			p["bill_type"] = "ALL"
		}
		return h.wxpayBill(ctx, wxpay.APIDownloadBill, p)
	case callDownloadFundflow:
		if err := billDate(in); err != nil {
			return nil, err
		}
		if p["account_type"] == "" {
			p["account_type"] = "Basic"
		}
		return h.wxpayBill(ctx, wxpay.APIDownloadFundflow, p)
	}
	return nil, newError(http.StatusBadRequest, ErrNotSupported, name+" is not supported by WeChat Pay")
}

// billDate checks billDate: yyyyMMdd.
func billDate(in payParams) error {
	d, err := in.required("billDate")
	if err != nil {
		return err
	}
	if len(d) != 8 || strings.TrimLeft(d, "0123456789") != "" {
		return newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a date yyyyMMdd: billDate")
	}
	return nil
}

func (h *Payment) wxpayAnswer(ctx context.Context, api wxpay.API, p map[string]string) (map[string]any, error) {
	fields, err := h.wx.Call(ctx, api, p)
	if err != nil {
		return nil, err
	}
	return wxpay.Answer(fields), nil
}

func (h *Payment) wxpayBill(ctx context.Context, api wxpay.API, p map[string]string) (map[string]any, error) {
	text, err := h.wx.Bill(ctx, api, p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"content": string(text)}, nil
}

// wxpayOrder places an order (unifiedorder) and returns the orderInfo of
// the caller's client type.
func (h *Payment) wxpayOrder(ctx context.Context, in payParams, p map[string]string) (map[string]any, error) {
	clientType, err := in.str("clientType")
	if err != nil {
		return nil, err
	}
	if clientType == "" {
		tt, _ := in.str("tradeType")
		clientType = wxpayTradeTypes[tt]
	}
	if clientType == "" {
		if openid, _ := in.str("openid"); openid != "" {
			clientType = "mp-weixin"
		} else {
			return nil, missing("clientType (or the X-Unicloud-Client-Type header)")
		}
	}
	tradeType, ok := wxpay.TradeType(clientType)
	if !ok {
		return nil, newError(http.StatusBadRequest, ErrNotSupported, "clientType "+strconv.Quote(clientType)+" is not supported by WeChat Pay (mp-weixin, app-plus, native, h5)")
	}
	if _, err := in.required("body"); err != nil {
		return nil, err
	}
	if _, err := in.required("outTradeNo"); err != nil {
		return nil, err
	}
	if _, err := in.positiveFen("totalFee"); err != nil {
		return nil, err
	}
	if p["notify_url"] == "" {
		if h.NotifyURL == "" {
			return nil, missing("notifyUrl (no notify_url is configured)")
		}
		p["notify_url"] = h.NotifyURL
	}
	p["trade_type"] = tradeType
	switch tradeType {
	case "JSAPI":
		if p["openid"] == "" {
			return nil, missing("openid")
		}
	case "NATIVE":
		if p["product_id"] == "" {
			p["product_id"] = p["out_trade_no"]
		}
		delete(p, "openid")
	default:
		delete(p, "openid")
	}
	if p["spbill_create_ip"] == "" {
		// The payer's IP; callers should pass spbillCreateIp.
		p["spbill_create_ip"] = "127.0.0.1"
	}
	ans, err := h.wx.Call(ctx, wxpay.APIUnifiedOrder, p)
	if err != nil {
		return nil, err
	}
	info, err := h.wx.OrderInfo(ctx, clientType, ans)
	if err != nil {
		return nil, err
	}
	out := wxpay.Answer(ans)
	out["orderInfo"] = info
	return out, nil
}
