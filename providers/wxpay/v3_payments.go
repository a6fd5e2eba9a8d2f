package wxpay

import (
	"context"
	"strconv"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// PayV3 is the payment API (pay.Provider) over WeChat Pay APIv3 behind the
// same calls as v2: callers send the v2 parameters (body, totalFee in fen,
// spbillCreateIp, billDate yyyyMMdd…) and get the v2 answers; PayV3 writes
// the APIv3 JSON requests (v3_request.go) and reads the APIv3 answers
// (v3_answer.go).
type PayV3 struct {
	Client *ClientV3
	// NotifyURL is the default notify_url of getOrderInfo.
	NotifyURL string
	// AppIDs are the appids of client types that do not use Client.AppID
	// (client_app_id): in the order and its orderInfo (the other APIv3
	// calls name no appid).
	AppIDs AppIDs
}

// GetOrderInfo places an APIv3 order and returns the orderInfo of the
// caller's client type.
func (a *PayV3) GetOrderInfo(ctx context.Context, req *OrderRequest) (pay.Answer, error) {
	clientType, err := v3ClientType(req.Params)
	if err != nil {
		return nil, err
	}
	body, err := v3OrderBody(req.Params, clientType, a.NotifyURL)
	if err != nil {
		return nil, err
	}
	appID := a.AppIDs.For(clientType, a.Client.AppID)
	ans, err := a.Client.PrepayFor(ctx, clientType, appID, body)
	if err != nil {
		return nil, payError(err)
	}
	info, err := a.Client.OrderInfoFor(clientType, appID, ans)
	if err != nil {
		return nil, payError(err)
	}
	out := v3PrepayAnswer(appID, a.Client.MchID, clientType, ans)
	out["orderInfo"] = info
	return out, nil
}

// v3ClientType is the caller's client type: clientType (or the
// X-Unicloud-Client-Type header), else tradeType, else mp-weixin when an
// openid is given.
func v3ClientType(in pay.Params) (string, error) {
	clientType, err := in.Str("clientType")
	if err != nil {
		return "", err
	}
	if clientType == "" {
		tt, _ := in.Str("tradeType")
		clientType = tradeTypeClients[tt]
	}
	if clientType == "" {
		if openid, _ := in.Str("openid"); openid != "" {
			return "mp-weixin", nil
		}
		return "", pay.Missing("clientType (or the X-Unicloud-Client-Type header)")
	}
	if _, ok := V3PrepayKind(clientType); !ok {
		return "", pay.NotSupported("clientType " + strconv.Quote(clientType) + " is not supported by WeChat Pay (" + AppClientTypeList() + ")")
	}
	return clientType, nil
}

// OrderQuery finds an order by transactionId or outTradeNo.
func (a *PayV3) OrderQuery(ctx context.Context, req *OrderQueryRequest) (pay.Answer, error) {
	field, id, err := req.ID()
	if err != nil {
		return nil, err
	}
	var ans map[string]any
	if field == "transactionId" {
		ans, err = a.Client.QueryOrder(ctx, id, "")
	} else {
		ans, err = a.Client.QueryOrder(ctx, "", id)
	}
	if err != nil {
		return nil, payError(err)
	}
	return V3OrderAnswer(ans), nil
}

// CloseOrder closes an order by outTradeNo.
func (a *PayV3) CloseOrder(ctx context.Context, req *CloseOrderRequest) (pay.Answer, error) {
	no := req.OutTradeNo
	if no == "" {
		return nil, pay.Missing("outTradeNo")
	}
	if err := a.Client.CloseOrder(ctx, no); err != nil {
		return nil, payError(err)
	}
	return pay.Answer{"appId": a.AppIDs.For(req.ClientType, a.Client.AppID), "mchId": a.Client.MchID, "outTradeNo": no, "resultMsg": "OK"}, nil
}

// CancelOrder is not a WeChat Pay call.
func (a *PayV3) CancelOrder(context.Context, *CancelOrderRequest) (pay.Answer, error) {
	return nil, pay.NotSupported("cancelOrder is not supported by WeChat Pay (use closeOrder or refund)")
}

// Refund is /v3/refund/domestic/refunds.
func (a *PayV3) Refund(ctx context.Context, req *RefundRequest) (pay.Answer, error) {
	body, err := v3RefundBody(req)
	if err != nil {
		return nil, err
	}
	ans, err := a.Client.Refund(ctx, body)
	if err != nil {
		return nil, payError(err)
	}
	return V3RefundAnswer(ans), nil
}

// RefundQuery finds a refund by outRefundNo (the only way APIv3 has).
func (a *PayV3) RefundQuery(ctx context.Context, req *RefundQueryRequest) (pay.Answer, error) {
	no := req.OutRefundNo
	if no == "" {
		if req.RefundID != "" || req.TransactionID != "" || req.OutTradeNo != "" {
			return nil, pay.NotSupported("WeChat Pay APIv3 finds a refund by outRefundNo only")
		}
		return nil, pay.Missing("outRefundNo")
	}
	ans, err := a.Client.QueryRefund(ctx, no)
	if err != nil {
		return nil, payError(err)
	}
	return V3RefundQueryAnswer(ans), nil
}

// DownloadBill is the trade bill (billType ALL, SUCCESS or REFUND).
func (a *PayV3) DownloadBill(ctx context.Context, req *BillRequest) (pay.Answer, error) {
	return a.bill(ctx, req.Params, req.BillDate, req.BillType, true)
}

// DownloadFundflow is the fund flow bill (accountType Basic, Operation or
// Fees).
func (a *PayV3) DownloadFundflow(ctx context.Context, req *FundflowRequest) (pay.Answer, error) {
	return a.bill(ctx, req.Params, req.BillDate, req.AccountType, false)
}

// bill downloads the trade bill of billType, or the fund flow of
// accountType (kind).
func (a *PayV3) bill(ctx context.Context, in pay.Params, d, kind string, trade bool) (pay.Answer, error) {
	if d == "" {
		return nil, pay.Missing("billDate")
	}
	date, err := V3BillDate(d)
	if err != nil {
		return nil, payError(err)
	}
	tarType, err := in.Str("tarType")
	if err != nil {
		return nil, err
	}
	if tarType != "" && tarType != "GZIP" {
		return nil, pay.BadRequest("parameter must be GZIP: tarType")
	}
	var text []byte
	if trade {
		billType := kind
		switch billType {
		case "":
			billType = "ALL"
		case "ALL", "SUCCESS", "REFUND":
		default:
			return nil, pay.BadRequest("parameter must be ALL, SUCCESS or REFUND: billType")
		}
		if text, err = a.Client.TradeBill(ctx, date, billType, tarType); err != nil {
			return nil, payError(err)
		}
	} else {
		accountType, err := V3AccountType(kind)
		if err != nil {
			return nil, payError(err)
		}
		if text, err = a.Client.FundflowBill(ctx, date, accountType, tarType); err != nil {
			return nil, payError(err)
		}
	}
	return pay.Answer{"content": string(text)}, nil
}

var _ pay.Provider = (*PayV3)(nil)
