package wxpayvirtual

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
	"github.com/caddy-unicloud/unicloud/providers/xpay"
)

// PayProvider returns the payment API; timeout bounds each token fetch (the host bounds each call).
func (w *WxpayVirtual) PayProvider(timeout time.Duration) pay.Provider {
	w.wx.TokenTimeout = timeout
	return &Provider{client: w.client}
}

// caller is the xpay.Caller over the shared WeChat client: the token authority's token of the app (the same as
// every unicloud_openapi weixin handler's), and the one retry with the same body, pay_sig and signature when
// WeChat refuses the token (40001, 40014, 42001).
type caller struct {
	wx  *weixin.Client
	app weixin.App
}

func (c *caller) Post(ctx context.Context, path string, query url.Values, body []byte) ([]byte, error) {
	ans, err := c.wx.Call(ctx, c.app, &weixin.Request{Method: http.MethodPost, Path: path, Query: query, Body: body})
	var te *weixin.TokenUnavailableError
	var ue *weixin.UpstreamError
	switch {
	case errors.As(err, &te):
		return nil, &pay.Error{Kind: xpay.ErrTokenUnavailable, Msg: "no access token could be obtained: check app_id and secret", Err: err}
	case errors.As(err, &ue):
		return nil, pay.Upstream(ue.Timeout || errors.Is(ctx.Err(), context.DeadlineExceeded), ue.Reason, nil)
	case err != nil:
		return nil, pay.Upstream(errors.Is(ctx.Err(), context.DeadlineExceeded), "WeChat could not be reached", nil)
	case !ans.JSON:
		return nil, pay.Upstream(false, "WeChat's answer is not JSON", nil)
	}
	return ans.Body, nil
}

// Provider is virtual payment behind the unified payment API: the calls it shares with uni-pay (getOrderInfo,
// orderQuery, refund, downloadBill; closeOrder, cancelOrder, refundQuery and downloadFundflow are not supported),
// and every other call of the xpay table by name through Call.
type Provider struct{ client *xpay.Client }

// Call makes the call name with the caller's parameters.
func (p *Provider) Call(ctx context.Context, name string, in pay.Params) (pay.Answer, error) {
	ans, err := p.client.Call(ctx, name, in)
	return ans, gatewayError(err)
}

// Calls lists the call names Call answers besides the unified ones.
func (p *Provider) Calls() []string {
	names := make([]string, 0, len(xpay.APIs))
	for name := range xpay.APIs {
		names = append(names, name)
	}
	return names
}

// gatewayError turns the SDK's errors into the ones callers get: WeChat's refusal as its errcode (HTTP 200), a
// missing session key as 400 UNICLOUD_SESSION_KEY_NOT_FOUND, no token as 502 UNICLOUD_TOKEN_UNAVAILABLE, an unknown
// call as 404 UNICLOUD_API_NOT_FOUND; the others as they are (the host maps pay.Error kinds).
func gatewayError(err error) error {
	if err == nil {
		return nil
	}
	var xe *xpay.Error
	if errors.As(err, &xe) {
		return &pay.NumericBusinessError{Code: xe.Code, Msg: xe.Msg}
	}
	var pe *pay.Error
	if errors.As(err, &pe) {
		switch pe.Kind {
		case xpay.ErrSessionKeyNotFound:
			return handlers.NewError(http.StatusBadRequest, handlers.ErrSessionKeyNotFound, pe.Msg)
		case xpay.ErrTokenUnavailable:
			return handlers.NewError(http.StatusBadGateway, handlers.ErrTokenUnavailable, pe.Msg)
		case xpay.ErrUnknownCall:
			return handlers.NewError(http.StatusNotFound, handlers.ErrAPINotFound, pe.Msg)
		}
	}
	return err
}

func (p *Provider) GetOrderInfo(ctx context.Context, req *pay.OrderRequest) (pay.Answer, error) {
	return p.Call(ctx, "getOrderInfo", req.Params)
}

func (p *Provider) OrderQuery(ctx context.Context, req *pay.OrderQueryRequest) (pay.Answer, error) {
	return p.Call(ctx, "orderQuery", req.Params)
}

func (p *Provider) CloseOrder(ctx context.Context, req *pay.CloseOrderRequest) (pay.Answer, error) {
	return p.Call(ctx, "closeOrder", req.Params)
}

func (p *Provider) CancelOrder(ctx context.Context, req *pay.CancelOrderRequest) (pay.Answer, error) {
	return p.Call(ctx, "cancelOrder", req.Params)
}

func (p *Provider) Refund(ctx context.Context, req *pay.RefundRequest) (pay.Answer, error) {
	return p.Call(ctx, "refund", req.Params)
}

func (p *Provider) RefundQuery(ctx context.Context, req *pay.RefundQueryRequest) (pay.Answer, error) {
	return p.Call(ctx, "refundQuery", req.Params)
}

func (p *Provider) DownloadBill(ctx context.Context, req *pay.BillRequest) (pay.Answer, error) {
	return p.Call(ctx, "downloadBill", req.Params)
}

func (p *Provider) DownloadFundflow(ctx context.Context, req *pay.FundflowRequest) (pay.Answer, error) {
	return p.Call(ctx, "downloadFundflow", req.Params)
}

var _ pay.Provider = (*Provider)(nil)
