package alipay

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// The client types getOrderInfo takes, as the caller names them.
const (
	clientMini   = "mp-alipay"
	clientApp    = "app-plus"
	clientNative = "native"
	clientH5     = "h5"
	clientWeb    = "web"
)

// clientTypes lists them for the refusal of another.
const clientTypes = "mp-alipay, app-plus, native, h5, web"

// order places or signs a payment for the caller's clientType:
//
//	mp-alipay  alipay.trade.create          orderInfo {tradeNo}
//	app-plus   alipay.trade.app.pay, local  orderInfo the signed order string
//	native     alipay.trade.precreate       orderInfo {qrCode}
//	h5         alipay.trade.wap.pay, local  orderInfo {payUrl}
//	web        alipay.trade.page.pay, local orderInfo {payUrl}
//
// "local" requests are signed here and make no network call: the payer's
// SDK or browser sends them.
func (a *Pay) order(ctx context.Context, in pay.Params, biz map[string]any, extra map[string]string) (pay.Answer, error) {
	clientType, err := in.Str("clientType")
	if err != nil {
		return nil, err
	}
	openid, err := in.Str("openid")
	if err != nil {
		return nil, err
	}
	if clientType == "" {
		if openid == "" {
			return nil, pay.Missing("clientType (or the X-Unicloud-Client-Type header)")
		}
		clientType = clientMini
	}
	switch clientType {
	case clientMini, clientApp, clientNative, clientH5, clientWeb:
	default:
		return nil, pay.NotSupported("clientType " + strconv.Quote(clientType) + " is not supported by Alipay (" + clientTypes + ")")
	}
	if _, err := in.Required("subject"); err != nil {
		return nil, err
	}
	outTradeNo, err := in.Required("outTradeNo")
	if err != nil {
		return nil, err
	}
	fee, err := in.PositiveFen("totalFee")
	if err != nil {
		return nil, err
	}
	biz["total_amount"] = FenToYuan(fee)
	if extra["notify_url"] == "" {
		if a.NotifyURL == "" {
			return nil, pay.Missing("notifyUrl (no notify_url is configured)")
		}
		extra["notify_url"] = a.NotifyURL
	}
	switch clientType {
	case clientApp:
		setDefault(biz, "product_code", AppPayProductCode)
		bizJSON, err := encodeBiz(biz)
		if err != nil {
			return nil, err
		}
		s, err := a.Client.OrderString(MethodTradeAppPay, bizJSON, extra)
		if err != nil {
			return nil, payError(err)
		}
		return pay.Answer{"orderInfo": s}, nil
	case clientH5, clientWeb:
		method, code := MethodTradeWapPay, WapPayProductCode
		if clientType == clientWeb {
			method, code = MethodTradePagePay, PagePayProductCode
		}
		setDefault(biz, "product_code", code)
		bizJSON, err := encodeBiz(biz)
		if err != nil {
			return nil, err
		}
		u, err := a.Client.PayURL(method, bizJSON, extra)
		if err != nil {
			return nil, payError(err)
		}
		return pay.Answer{"orderInfo": map[string]any{"payUrl": u}, "outTradeNo": outTradeNo}, nil
	case clientNative:
		return a.execOrder(ctx, MethodTradePrecreate, biz, extra, "qr_code", "qrCode")
	}
	if openid == "" {
		return nil, pay.Missing("openid")
	}
	biz[BuyerField(openid)] = openid
	return a.execOrder(ctx, MethodTradeCreate, biz, extra, "trade_no", "tradeNo")
}

// execOrder sends an order that the gateway places (trade.create,
// trade.precreate) and answers its converted members with orderInfo
// {name: the answer's member}; an answer without that member is an
// upstream failure.
func (a *Pay) execOrder(ctx context.Context, method string, biz map[string]any, extra map[string]string, member, name string) (pay.Answer, error) {
	bizJSON, err := encodeBiz(biz)
	if err != nil {
		return nil, err
	}
	fields, err := a.Client.Execute(ctx, method, bizJSON, extra)
	if err != nil {
		return nil, payError(err)
	}
	out, err := Answer(fields)
	if err != nil {
		return nil, pay.Upstream(false, err.Error(), err)
	}
	v, _ := fields[member].(string)
	if v == "" {
		return nil, pay.Upstream(false, method+" answered no "+member, nil)
	}
	out["orderInfo"] = map[string]any{name: v}
	return out, nil
}

// setDefault sets biz[k] when the caller gave none.
func setDefault(biz map[string]any, k, v string) {
	if biz[k] == nil {
		biz[k] = v
	}
}

func encodeBiz(biz map[string]any) ([]byte, error) {
	b, err := json.Marshal(biz)
	if err != nil {
		return nil, pay.BadRequest("parameters cannot be encoded")
	}
	return b, nil
}
