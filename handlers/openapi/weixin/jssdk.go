package weixin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// serveJSSDKConfig answers h5.jssdk.getConfig: what wx.config needs for the
// page at url, signed with the official account's jsapi_ticket. The ticket
// itself never leaves the gateway.
func (wx *Weixin) serveJSSDKConfig(ctx context.Context, w http.ResponseWriter, api *weixin.API, c *call, cc *weixin.CallContext) (string, error) {
	if wx.H5AppID == "" {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrAppNotFound, "h5_app_id is not configured")
	}
	params, err := api.PrepareParams(c.params, cc)
	if err != nil {
		return "", paramError(err)
	}
	raw, _ := params["url"].(string)
	pageURL, err := weixin.JSSDKURL(raw)
	if err != nil {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest,
			"parameter must be the absolute http(s) URL of the page (location.href): url")
	}
	ticket, err := wx.client.Ticket(ctx, weixin.App{ID: wx.H5AppID, Secret: wx.H5Secret})
	if err != nil {
		return "", ticketError(err)
	}
	ts := time.Now().Unix()
	nonce := weixin.NewNonce()
	body, _ := json.Marshal(jssdkConfig{
		ErrCode: 0, ErrMsg: "ok", AppID: wx.H5AppID, Timestamp: ts, NonceStr: nonce,
		Signature: weixin.JSSDKSignature(ticket.Value, nonce, ts, pageURL), URL: pageURL,
	})
	handlers.WriteJSON(w, http.StatusOK, body)
	return "ok", nil
}

// jssdkConfig is getConfig's answer, ready to spread into wx.config.
type jssdkConfig struct {
	ErrCode   int    `json:"errCode"`
	ErrMsg    string `json:"errMsg"`
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
	URL       string `json:"url"`
}

// ticketError maps a jsapi_ticket that could not be had: 502
// UNICLOUD_TOKEN_UNAVAILABLE naming jsapi_ticket and WeChat's errcode, or
// the provider's unreachability as for any call.
func ticketError(err error) error {
	var ue *weixin.UpstreamError
	if errors.As(err, &ue) && ue.Timeout {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "jsapi_ticket: "+ue.Reason)
	}
	if ue != nil && ue.Unreachable {
		return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "jsapi_ticket: "+ue.Reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "jsapi_ticket: provider did not answer in time")
	}
	var te *weixin.TokenError
	if errors.As(err, &te) {
		what := "jsapi_ticket"
		var tue *weixin.TokenUnavailableError
		if errors.As(err, &tue) {
			// getticket was not reached: the access token it needs was
			// refused.
			what = "jsapi_ticket (its access token)"
		}
		return handlers.NewError(http.StatusBadGateway, handlers.ErrTokenUnavailable,
			fmt.Sprintf("%s could not be obtained (provider errcode %d)", what, te.ErrCode))
	}
	return handlers.NewError(http.StatusBadGateway, handlers.ErrTokenUnavailable, "jsapi_ticket could not be obtained")
}
