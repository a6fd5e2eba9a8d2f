package weixin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// oauthApp is the platform app of a <p>.oauth.* API: the official account
// (h5), the open-platform mobile app (app) or website app (web). appId in
// the body does not switch it.
func (wx *Weixin) oauthApp(api *weixin.API) (platform string, app weixin.App, err error) {
	platform, _, _ = strings.Cut(api.Name, ".")
	var id, secret, sub string
	switch platform {
	case "h5":
		id, secret, sub = wx.H5AppID, wx.H5Secret, "h5_app_id"
	case "app":
		id, secret, sub = wx.MobileAppID, wx.MobileSecret, "mobile_app_id"
	case "web":
		id, secret, sub = wx.WebAppID, wx.WebSecret, "web_app_id"
	}
	if id == "" {
		return platform, weixin.App{}, handlers.NewError(http.StatusBadRequest, handlers.ErrAppNotFound, sub+" is not configured")
	}
	return platform, weixin.App{ID: id, Secret: secret}, nil
}

// serveOAuth answers <p>.oauth.code2Session and <p>.oauth.getUserInfo.
func (wx *Weixin) serveOAuth(ctx context.Context, w http.ResponseWriter, api *weixin.API, c *call, cc *weixin.CallContext) (string, error) {
	platform, app, err := wx.oauthApp(api)
	if err != nil {
		return "", err
	}
	params, err := api.PrepareParams(c.params, cc)
	if err != nil {
		return "", paramError(err)
	}
	if api.Kind == weixin.KindOAuthCode2Session {
		code, _ := params["code"].(string)
		return wx.serveOAuthLogin(ctx, w, api, app, code)
	}
	openid, _ := params["openid"].(string)
	lang, _ := params["lang"].(string)
	var ans *weixin.Answer
	userToken := c.token
	if c.token != "" && wx.ExposeUserToken {
		// The caller holds its own token (answered with expose_user_token).
		ans, err = wx.client.OAuthUserInfo(ctx, c.token, openid, lang)
	} else {
		var res weixin.UserInfoResult
		ans, res, err = wx.client.UserInfo(ctx, wx.shared.UserTokens, app, openid, lang)
		if res.Refreshed {
			wx.logger.Info("user access token expired or refused; refreshed once",
				zap.String("app_id", app.ID), zap.Bool("dropped", res.Dropped))
		}
		userToken = ""
	}
	if errors.Is(err, weixin.ErrUserTokenNotFound) {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrUserTokenNotFound,
			"no user token kept for this openid: call "+platform+".oauth.code2Session first")
	}
	if err != nil {
		return "", upstreamError(err)
	}
	// A kept token is the gateway's and never reaches the caller, even if
	// echoed; the secret neither.
	if kept, ok := wx.shared.UserTokens.Get(ctx, wx.Endpoint, app.ID, openid); ok {
		ans.Body = redact(ans.Body, kept.AccessToken, kept.RefreshToken)
	}
	ans.Body = redact(ans.Body, app.Secret, userToken)
	return wx.answer(w, api, ans, c)
}

// serveOAuthLogin exchanges the code; the user tokens are kept by the
// gateway and answered only with expose_user_token.
func (wx *Weixin) serveOAuthLogin(ctx context.Context, w http.ResponseWriter, api *weixin.API, app weixin.App, code string) (string, error) {
	start := wx.shared.UserTokens.Now()
	ans, err := wx.client.OAuthCode2Session(ctx, app, code)
	if err != nil {
		return "", upstreamError(err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(redact(ans.Body, app.Secret)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered unparseable JSON")
	}
	outcome := "ok"
	if ans.ErrCode != 0 {
		outcome = "provider_error"
		handlers.ProviderErrors.WithLabelValues("weixin", api.Name, strconv.FormatInt(ans.ErrCode, 10)).Inc()
	} else {
		openid, _ := m["openid"].(string)
		tok, ok := weixin.UserTokenFromAnswer(ans.Body, start, nil)
		if openid == "" || !ok {
			return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered without openid or access_token")
		}
		wx.shared.UserTokens.Put(ctx, wx.Endpoint, app.ID, openid, tok)
	}
	if !wx.ExposeUserToken {
		delete(m, "access_token")
		delete(m, "refresh_token")
		delete(m, "expires_in")
	}
	out, _ := casing.ToCamel(m).(map[string]any)
	if _, ok := out["errCode"]; !ok {
		out["errCode"] = 0
		out["errMsg"] = "ok"
	}
	body, _ := json.Marshal(out)
	handlers.WriteJSON(w, http.StatusOK, body)
	return outcome, nil
}
