package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// The APIs.
const (
	apiCode2Session   = "auth.code2Session"
	apiGetUserInfo    = "auth.getUserInfo"
	apiGetPhoneNumber = "decrypt.getPhoneNumber"
)

// Serve answers one call.
func (a *Alipay) Serve(ctx context.Context, w http.ResponseWriter, r *http.Request, api string) (string, error) {
	in, err := params(r)
	if err != nil {
		return "", err
	}
	switch api {
	case apiGetUserInfo:
		return a.serveUserInfo(ctx, w, in)
	case apiGetPhoneNumber:
		return a.servePhoneNumber(w, in)
	}
	return a.serveCode2Session(ctx, w, in)
}

// serveCode2Session exchanges the login code through
// alipay.system.oauth.token and answers the verified answer camelCase with
// openid (Alipay's open_id, or user_id for apps that still use it). The
// auth token is kept by the gateway; it is answered only with
// expose_auth_token.
func (a *Alipay) serveCode2Session(ctx context.Context, w http.ResponseWriter, in map[string]any) (string, error) {
	code := firstString(in, "code", "authCode", "jsCode")
	if code == "" {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: code")
	}
	start := a.tokens.Now()
	fields, err := a.client.Execute(ctx, alipay.MethodOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": code})
	if err != nil {
		return providerAnswer(w, apiCode2Session, err)
	}
	openid, _ := fields["open_id"].(string)
	if openid == "" {
		openid, _ = fields["user_id"].(string)
	}
	if tok, ok := tokenFrom(fields, start); ok && openid != "" {
		a.tokens.Put(ctx, a.Endpoint, a.AppID, openid, tok)
	}
	out := camelFields(fields)
	if !a.ExposeAuthToken {
		delete(out, "accessToken")
		delete(out, "refreshToken")
		delete(out, "reExpiresIn")
	}
	out["openid"] = openid
	handlers.WriteAnswer(w, out)
	return "ok", nil
}

// serveUserInfo answers auth.getUserInfo through alipay.user.info.share
// with the auth token kept for the openid, refreshed once when it has
// expired (by its expires_in, or as Alipay says).
func (a *Alipay) serveUserInfo(ctx context.Context, w http.ResponseWriter, in map[string]any) (string, error) {
	openid := firstString(in, "openid", "openId", "userId")
	token := ""
	if a.ExposeAuthToken {
		// The caller holds its own token (answered with expose_auth_token).
		token = firstString(in, "authToken", "accessToken")
	}
	if openid == "" && token == "" {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: openid")
	}
	if token != "" {
		fields, err := a.client.Execute(ctx, alipay.MethodUserInfoShare, nil, map[string]string{"auth_token": token})
		return a.writeUserInfo(w, fields, err)
	}
	tok, ok := a.tokens.Get(ctx, a.Endpoint, a.AppID, openid)
	if !ok {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "no auth token kept for this openid: call auth.code2Session first")
	}
	refreshed := false
	if a.tokens.Expired(tok) {
		var err error
		if tok, err = a.refresh(ctx, openid, tok); err != nil {
			return a.writeUserInfo(w, nil, err)
		}
		refreshed = true
	}
	fields, err := a.client.Execute(ctx, alipay.MethodUserInfoShare, nil, map[string]string{"auth_token": tok.AccessToken})
	var be *alipay.BusinessError
	if errors.As(err, &be) && be.SubCode == errTokenExpired && !refreshed {
		if tok, err = a.refresh(ctx, openid, tok); err == nil {
			fields, err = a.client.Execute(ctx, alipay.MethodUserInfoShare, nil, map[string]string{"auth_token": tok.AccessToken})
		}
	}
	return a.writeUserInfo(w, fields, err)
}

// writeUserInfo answers alipay.user.info.share's member camelCased,
// open_id as openid.
func (a *Alipay) writeUserInfo(w http.ResponseWriter, fields map[string]any, err error) (string, error) {
	if err != nil {
		return providerAnswer(w, apiGetUserInfo, err)
	}
	out := camelFields(fields)
	if openid, ok := fields["open_id"].(string); ok {
		out["openid"] = openid
	}
	handlers.WriteAnswer(w, out)
	return "ok", nil
}

// camelFields are a verified member's fields camelCase, without code and
// msg, with errCode 0 and errMsg "ok".
func camelFields(fields map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range fields {
		if k == "code" || k == "msg" {
			continue
		}
		out[casing.CamelKey(k)] = casing.ToCamel(v)
	}
	delete(out, "openId")
	out["errCode"] = 0
	out["errMsg"] = "ok"
	return out
}

// providerAnswer answers a failed call: Alipay's failure as 200 with its
// sub_code and sub_msg, anything else as the documented error.
func providerAnswer(w http.ResponseWriter, api string, err error) (string, error) {
	var be *alipay.BusinessError
	if errors.As(err, &be) {
		handlers.ProviderErrors.WithLabelValues("alipay", api, be.ErrCode()).Inc()
		handlers.WriteAnswer(w, map[string]any{"errCode": be.ErrCode(), "errMsg": be.ErrMsg()})
		return "provider_error", nil
	}
	var he *handlers.Error
	if errors.As(err, &he) {
		return "", he
	}
	return "", callError(err)
}

// params reads a call's parameters, keys camelCase: the query string of a
// GET, the JSON object of a POST (snake_case keys accepted).
func params(r *http.Request) (map[string]any, error) {
	in := map[string]any{}
	if r.Method == http.MethodGet {
		for k, vs := range r.URL.Query() {
			if len(vs) > 0 {
				in[casing.CamelKey(k)] = vs[0]
			}
		}
		return in, nil
	}
	b, err := io.ReadAll(r.Body) // bounded by the host's max_body
	if err != nil {
		return nil, handlers.BodyError(err)
	}
	m, err := handlers.DecodeObject(b)
	if err != nil {
		return nil, err
	}
	for k, v := range m {
		in[casing.CamelKey(k)] = v
	}
	return in, nil
}

// firstString is the first of names given as a non-empty string (or a
// number, as its text); "" when none is.
func firstString(in map[string]any, names ...string) string {
	for _, n := range names {
		switch v := in[n].(type) {
		case string:
			if v != "" {
				return v
			}
		case json.Number:
			return v.String()
		}
	}
	return ""
}

// callError maps a failed gateway call to the caller's answer.
func callError(err error) error {
	var se *alipay.SignatureError
	if errors.As(err, &se) {
		return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstreamBadSignature, se.Msg())
	}
	var ue *alipay.UpstreamError
	if errors.As(err, &ue) {
		if ue.Timeout {
			return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, ue.Reason)
		}
		return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, ue.Reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "provider did not answer in time")
	}
	return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider call failed")
}
