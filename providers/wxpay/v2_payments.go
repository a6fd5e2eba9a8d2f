package wxpay

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// PayV2 is the payment API (pay.Provider) over WeChat Pay APIv2: the
// caller's camelCase parameters become the v2 XML fields, the verified
// answers the caller's camelCase in fen.
type PayV2 struct {
	Client *Client
	// NotifyURL is the default notify_url of getOrderInfo.
	NotifyURL string
	// AppIDs are the appids of client types that do not use Client.AppID
	// (client_app_id): in the order, its orderInfo, and the calls that
	// name the caller's clientType.
	AppIDs AppIDs
}

// v2Dropped are caller parameters never sent to WeChat Pay as given: the
// gateway sets the merchant's identity, nonce and signature itself,
// clientType chooses the trade type, and subject is Alipay's.
var v2Dropped = map[string]bool{
	"client_type": true, "appid": true, "mch_id": true, "sign": true, "sign_type": true,
	"nonce_str": true, "key": true, "subject": true,
}

// tradeTypeClients maps an explicit tradeType (as uni-pay callers send it)
// to the client type.
var tradeTypeClients = map[string]string{"JSAPI": "mp-weixin", "APP": "app-plus", "NATIVE": "native", "MWEB": "h5"}

// v2Fields converts the caller's parameters to WeChat Pay fields:
// snake_case names, text values; amounts (*_fee) must be integer fen.
func v2Fields(in pay.Params) (map[string]string, error) {
	p := make(map[string]string, len(in)+4)
	for k, v := range in {
		if v == nil {
			continue
		}
		name := casing.SnakeKey(k)
		if v2Dropped[name] {
			continue
		}
		if strings.HasSuffix(name, "_fee") {
			n, err := pay.ParseFen(v)
			if err != nil {
				return nil, pay.BadRequest("parameter must be an integer number of fen: " + k)
			}
			p[name] = strconv.FormatInt(n, 10)
			continue
		}
		s, err := pay.Text(k, v)
		if err != nil {
			return nil, err
		}
		p[name] = s
	}
	return p, nil
}

// GetOrderInfo places an order (unifiedorder) and returns the orderInfo of
// the caller's client type.
func (a *PayV2) GetOrderInfo(ctx context.Context, req *OrderRequest) (pay.Answer, error) {
	in := req.Params
	p, err := v2Fields(in)
	if err != nil {
		return nil, err
	}
	clientType, err := in.Str("clientType")
	if err != nil {
		return nil, err
	}
	if clientType == "" {
		tt, _ := in.Str("tradeType")
		clientType = tradeTypeClients[tt]
	}
	if clientType == "" {
		if openid, _ := in.Str("openid"); openid != "" {
			clientType = "mp-weixin"
		} else {
			return nil, pay.Missing("clientType (or the X-Unicloud-Client-Type header)")
		}
	}
	tradeType, ok := TradeType(clientType)
	if !ok {
		return nil, pay.NotSupported("clientType " + strconv.Quote(clientType) + " is not supported by WeChat Pay (" + AppClientTypeList() + ")")
	}
	if _, err := in.Required("body"); err != nil {
		return nil, err
	}
	if _, err := in.Required("outTradeNo"); err != nil {
		return nil, err
	}
	if _, err := in.PositiveFen("totalFee"); err != nil {
		return nil, err
	}
	if p["notify_url"] == "" {
		if a.NotifyURL == "" {
			return nil, pay.Missing("notifyUrl (no notify_url is configured)")
		}
		p["notify_url"] = a.NotifyURL
	}
	p["trade_type"] = tradeType
	appID := a.AppIDs.For(clientType, a.Client.AppID)
	p["appid"] = appID
	switch tradeType {
	case "JSAPI":
		if p["openid"] == "" {
			return nil, pay.Missing("openid")
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
	ans, err := a.Client.Call(ctx, APIUnifiedOrder, p)
	if err != nil {
		return nil, payError(err)
	}
	info, err := a.Client.OrderInfoFor(ctx, clientType, appID, ans)
	if err != nil {
		return nil, payError(err)
	}
	out := Answer(ans)
	out["orderInfo"] = info
	return out, nil
}

// OrderQuery is orderquery.
func (a *PayV2) OrderQuery(ctx context.Context, req *OrderQueryRequest) (pay.Answer, error) {
	p, err := v2Fields(req.Params)
	if err != nil {
		return nil, err
	}
	if _, _, err := req.ID(); err != nil {
		return nil, err
	}
	return a.answer(ctx, APIOrderQuery, req.ClientType, p)
}

// CloseOrder is closeorder.
func (a *PayV2) CloseOrder(ctx context.Context, req *CloseOrderRequest) (pay.Answer, error) {
	p, err := v2Fields(req.Params)
	if err != nil {
		return nil, err
	}
	if req.OutTradeNo == "" {
		return nil, pay.Missing("outTradeNo")
	}
	return a.answer(ctx, APICloseOrder, req.ClientType, p)
}

// CancelOrder is not a WeChat Pay call.
func (a *PayV2) CancelOrder(context.Context, *CancelOrderRequest) (pay.Answer, error) {
	return nil, pay.NotSupported("cancelOrder is not supported by WeChat Pay (use closeOrder or refund)")
}

// Refund is secapi/pay/refund (with the merchant certificate).
func (a *PayV2) Refund(ctx context.Context, req *RefundRequest) (pay.Answer, error) {
	p, err := v2Fields(req.Params)
	if err != nil {
		return nil, err
	}
	if _, _, err := req.ID(); err != nil {
		return nil, err
	}
	if req.OutRefundNo == "" {
		return nil, pay.Missing("outRefundNo")
	}
	if _, err := req.TotalFee.Positive("totalFee"); err != nil {
		return nil, err
	}
	if _, err := req.RefundFee.Positive("refundFee"); err != nil {
		return nil, err
	}
	return a.answer(ctx, APIRefund, req.ClientType, p)
}

// RefundQuery is refundquery: each refund an item of refundList.
func (a *PayV2) RefundQuery(ctx context.Context, req *RefundQueryRequest) (pay.Answer, error) {
	p, err := v2Fields(req.Params)
	if err != nil {
		return nil, err
	}
	if req.RefundID == "" && req.OutRefundNo == "" && req.TransactionID == "" && req.OutTradeNo == "" {
		return nil, pay.Missing("refundId or outRefundNo or transactionId or outTradeNo")
	}
	p["appid"] = a.callAppID(req.ClientType)
	fields, err := a.Client.Call(ctx, APIRefundQuery, p)
	if err != nil {
		return nil, payError(err)
	}
	return RefundQueryAnswer(fields), nil
}

// DownloadBill is downloadbill (bill_type default ALL).
func (a *PayV2) DownloadBill(ctx context.Context, req *BillRequest) (pay.Answer, error) {
	p, err := v2Fields(req.Params)
	if err != nil {
		return nil, err
	}
	if err := pay.BillDate(req.BillDate); err != nil {
		return nil, err
	}
	if p["bill_type"] == "" {
		p["bill_type"] = "ALL"
	}
	return a.bill(ctx, APIDownloadBill, req.ClientType, p)
}

// DownloadFundflow is downloadfundflow (account_type default Basic, with
// the merchant certificate).
func (a *PayV2) DownloadFundflow(ctx context.Context, req *FundflowRequest) (pay.Answer, error) {
	p, err := v2Fields(req.Params)
	if err != nil {
		return nil, err
	}
	if err := pay.BillDate(req.BillDate); err != nil {
		return nil, err
	}
	if p["account_type"] == "" {
		p["account_type"] = "Basic"
	}
	return a.bill(ctx, APIDownloadFundflow, req.ClientType, p)
}

// callAppID is the appid of a call other than getOrderInfo: that of the
// caller's clientType (body or X-Unicloud-Client-Type), else
// Client.AppID.
func (a *PayV2) callAppID(clientType string) string {
	return a.AppIDs.For(clientType, a.Client.AppID)
}

func (a *PayV2) answer(ctx context.Context, api API, clientType string, p map[string]string) (pay.Answer, error) {
	p["appid"] = a.callAppID(clientType)
	fields, err := a.Client.Call(ctx, api, p)
	if err != nil {
		return nil, payError(err)
	}
	return Answer(fields), nil
}

func (a *PayV2) bill(ctx context.Context, api API, clientType string, p map[string]string) (pay.Answer, error) {
	p["appid"] = a.callAppID(clientType)
	text, err := a.Client.Bill(ctx, api, p)
	if err != nil {
		return nil, payError(err)
	}
	return pay.Answer{"content": string(text)}, nil
}

// payError is a client error in the payment API's terms.
func payError(err error) error {
	var be *BusinessError
	if errors.As(err, &be) {
		return &pay.BusinessError{Code: be.Code, Msg: be.Msg}
	}
	var se *SignatureError
	if errors.As(err, &se) {
		return &pay.Error{Kind: pay.ErrBadSignature, Msg: se.Msg(), Err: err}
	}
	var pe *ParamError
	if errors.As(err, &pe) {
		return &pay.Error{Kind: pay.ErrBadRequest, Msg: pe.Msg, Err: err}
	}
	if errors.Is(err, ErrNoCertificate) {
		return &pay.Error{Kind: pay.ErrNotSupported, Msg: "this call needs the merchant certificate: configure pfx", Err: err}
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return pay.Upstream(ue.Timeout, ue.Reason, err)
	}
	return err
}

// The request types of the payment API, by their names in this package.
type (
	OrderRequest       = pay.OrderRequest
	OrderQueryRequest  = pay.OrderQueryRequest
	CloseOrderRequest  = pay.CloseOrderRequest
	CancelOrderRequest = pay.CancelOrderRequest
	RefundRequest      = pay.RefundRequest
	RefundQueryRequest = pay.RefundQueryRequest
	BillRequest        = pay.BillRequest
	FundflowRequest    = pay.FundflowRequest
)

var _ pay.Provider = (*PayV2)(nil)
