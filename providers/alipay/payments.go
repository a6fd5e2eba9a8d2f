package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// Pay is the payment API (pay.Provider) over the Alipay gateway: the
// caller's camelCase parameters (amounts in fen) become biz_content
// (snake_case, amounts in yuan), the verified answers the caller's
// camelCase in fen.
type Pay struct {
	Client *Client
	// NotifyURL is the default notify_url of getOrderInfo.
	NotifyURL string
}

// GetOrderInfo places or signs a payment for the clientType: see order.
func (a *Pay) GetOrderInfo(ctx context.Context, req *pay.OrderRequest) (pay.Answer, error) {
	biz, extra, err := bizContent(req.Params)
	if err != nil {
		return nil, err
	}
	return a.order(ctx, req.Params, biz, extra)
}

// OrderQuery is alipay.trade.query.
func (a *Pay) OrderQuery(ctx context.Context, req *pay.OrderQueryRequest) (pay.Answer, error) {
	return a.call(ctx, MethodTradeQuery, req.OrderRef, req.Params, nil)
}

// CloseOrder is alipay.trade.close.
func (a *Pay) CloseOrder(ctx context.Context, req *pay.CloseOrderRequest) (pay.Answer, error) {
	return a.call(ctx, MethodTradeClose, req.OrderRef, req.Params, nil)
}

// CancelOrder is alipay.trade.cancel.
func (a *Pay) CancelOrder(ctx context.Context, req *pay.CancelOrderRequest) (pay.Answer, error) {
	return a.call(ctx, MethodTradeCancel, req.OrderRef, req.Params, nil)
}

// Refund is alipay.trade.refund (refundFee in fen → refund_amount).
// Alipay does not need the order's total; one given is checked as every
// amount (integer fen, not less than the refund).
func (a *Pay) Refund(ctx context.Context, req *pay.RefundRequest) (pay.Answer, error) {
	fee, err := req.RefundFee.Positive("refundFee")
	if err != nil {
		return nil, err
	}
	out, err := a.call(ctx, MethodTradeRefund, req.OrderRef, req.Params, func(biz map[string]any, extra map[string]string) {
		biz["refund_amount"] = FenToYuan(fee)
		delete(extra, "notify_url") // Alipay notifies the order's notify_url
	})
	if err == nil && req.OutRefundNo != "" {
		out["outRefundNo"] = req.OutRefundNo
	}
	return out, err
}

// RefundQuery is alipay.trade.fastpay.refund.query. A refund made
// without out_request_no is named by the order's out_trade_no.
func (a *Pay) RefundQuery(ctx context.Context, req *pay.RefundQueryRequest) (pay.Answer, error) {
	no := req.OutRefundNo
	if no == "" {
		no = req.OutTradeNo
	}
	if no == "" {
		return nil, pay.Missing("outRefundNo")
	}
	return a.call(ctx, MethodTradeRefundQuery, req.OrderRef, req.Params, func(biz map[string]any, _ map[string]string) {
		biz["out_request_no"] = no
	})
}

// DownloadBill is not supported (Alipay's bill is a download URL of its
// own API).
func (a *Pay) DownloadBill(context.Context, *pay.BillRequest) (pay.Answer, error) {
	return nil, pay.NotSupported("downloadBill is not supported by Alipay")
}

// DownloadFundflow is not supported by Alipay.
func (a *Pay) DownloadFundflow(context.Context, *pay.FundflowRequest) (pay.Answer, error) {
	return nil, pay.NotSupported("downloadFundflow is not supported by Alipay")
}

// payError is a client error in the payment API's terms.
func payError(err error) error {
	var be *BusinessError
	if errors.As(err, &be) {
		return &pay.BusinessError{Code: be.ErrCode(), Msg: be.ErrMsg()}
	}
	var se *SignatureError
	if errors.As(err, &se) {
		return &pay.Error{Kind: pay.ErrBadSignature, Msg: se.Msg(), Err: err}
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return pay.Upstream(ue.Timeout, ue.Reason, err)
	}
	return err
}

// renamed are caller parameters with an Alipay name of their own.
var renamed = map[string]string{
	"transactionId": "trade_no",
	"outRefundNo":   "out_request_no",
	"refundDesc":    "refund_reason",
	"refundFeeType": "refund_currency",
}

// publicParams are caller parameters sent beside biz_content, not in it.
var publicParams = map[string]string{
	"notifyUrl":    "notify_url",
	"returnUrl":    "return_url",
	"appAuthToken": "app_auth_token",
}

// dropped are caller parameters the gateway handles itself:
// the amounts in fen (converted), the payer (openid), the client type,
// and WeChat Pay's own fields.
var dropped = map[string]bool{
	"clientType": true, "totalFee": true, "refundFee": true, "openid": true,
	"appId": true, "sign": true, "signType": true, "tradeType": true, "spbillCreateIp": true,
}

// idMembers are the biz_content members that are identifiers: always
// strings.
var idMembers = map[string]bool{"trade_no": true, "out_trade_no": true, "out_request_no": true}

// bizContent converts the caller's parameters to biz_content members
// (snake_case, nested keys too) and the public parameters beside it.
// Amounts in yuan are refused: callers give fen (totalFee, refundFee).
func bizContent(in pay.Params) (map[string]any, map[string]string, error) {
	biz := make(map[string]any, len(in)+3)
	extra := map[string]string{}
	for k, v := range in {
		if v == nil || dropped[k] {
			continue
		}
		if name, ok := publicParams[k]; ok {
			s, err := pay.Text(k, v)
			if err != nil {
				return nil, nil, err
			}
			extra[name] = s
			continue
		}
		name, ok := renamed[k]
		if !ok {
			name = casing.SnakeKey(k)
		}
		if name == "amount" || strings.HasSuffix(name, "_amount") {
			return nil, nil, pay.BadRequest("amounts are given in fen (totalFee, refundFee), not in yuan: " + k)
		}
		if n, ok := v.(json.Number); ok && idMembers[name] {
			v = n.String() // an order number written as a JSON number
		}
		biz[name] = casing.ToSnake(v)
	}
	return biz, extra, nil
}

// call makes method for the order ref names, with the caller's other
// parameters in biz_content; edit sets the method's own members.
func (a *Pay) call(ctx context.Context, method string, ref pay.OrderRef, in pay.Params, edit func(biz map[string]any, extra map[string]string)) (pay.Answer, error) {
	biz, extra, err := bizContent(in)
	if err != nil {
		return nil, err
	}
	if _, _, err := ref.ID(); err != nil {
		return nil, err
	}
	if edit != nil {
		edit(biz, extra)
	}
	bizJSON, err := json.Marshal(biz)
	if err != nil {
		return nil, pay.BadRequest("parameters cannot be encoded")
	}
	fields, err := a.Client.Execute(ctx, method, bizJSON, extra)
	if err != nil {
		return nil, payError(err)
	}
	out, err := Answer(fields)
	if err != nil {
		return nil, pay.Upstream(false, err.Error(), err)
	}
	return out, nil
}

var _ pay.Provider = (*Pay)(nil)
