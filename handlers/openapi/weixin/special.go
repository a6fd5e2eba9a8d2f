package weixin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// serveAccessToken answers auth.getAccessToken: the authority's current
// token of the app (off unless allow names it).
func (wx *Weixin) serveAccessToken(ctx context.Context, w http.ResponseWriter, appID, secret string) (string, error) {
	tok, err := wx.client.Token(ctx, weixin.App{ID: appID, Secret: secret})
	if err != nil {
		return "", callError(err)
	}
	body, _ := json.Marshal(map[string]any{
		"errCode": 0, "errMsg": "ok", "accessToken": tok.Value,
		"expiresIn": int64(time.Until(tok.ExpiresAt).Seconds()),
	})
	handlers.WriteJSON(w, http.StatusOK, body)
	return "ok", nil
}

// serveCode2Session exchanges a login code; the session key is kept by the
// gateway (and answered only with expose_session_key).
func (wx *Weixin) serveCode2Session(ctx context.Context, w http.ResponseWriter, api *weixin.API, c *call, cc *weixin.CallContext, secret string) (string, error) {
	params, err := api.PrepareParams(c.params, cc)
	if err != nil {
		return "", paramError(err)
	}
	code, _ := params["js_code"].(string)
	ans, err := wx.client.Code2Session(ctx, cc.AppID, secret, code)
	if err != nil {
		return "", upstreamError(err)
	}
	ans.Body = redact(ans.Body, secret)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(ans.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered unparseable JSON")
	}
	sk, _ := m["session_key"].(string)
	openid, _ := m["openid"].(string)
	if ans.ErrCode == 0 && sk != "" && openid != "" {
		wx.shared.Sessions.Put(ctx, cc.AppID, openid, sk)
	}
	if !wx.ExposeSessionKey {
		delete(m, "session_key")
	}
	out, _ := casing.ToCamel(m).(map[string]any)
	if _, ok := out["errCode"]; !ok {
		out["errCode"] = 0
		out["errMsg"] = "ok"
	}
	body, _ := json.Marshal(out)
	outcome := "ok"
	if ans.ErrCode != 0 {
		outcome = "provider_error"
		handlers.ProviderErrors.WithLabelValues("weixin", api.Name, strconv.FormatInt(ans.ErrCode, 10)).Inc()
	}
	handlers.WriteJSON(w, http.StatusOK, body)
	return outcome, nil
}

// serveDecryptPhone decrypts the old getPhoneNumber button's data with the
// session key the gateway kept for openid (or the one the caller sent).
func (wx *Weixin) serveDecryptPhone(ctx context.Context, w http.ResponseWriter, api *weixin.API, c *call, cc *weixin.CallContext) (string, error) {
	params, err := api.PrepareParams(c.params, cc)
	if err != nil {
		return "", paramError(err)
	}
	enc, _ := params["encrypted_data"].(string)
	iv, _ := params["iv"].(string)
	sk, _ := params["session_key"].(string)
	if sk == "" {
		openid, _ := params["openid"].(string)
		if openid == "" {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: openid (or sessionKey)")
		}
		var ok bool
		sk, ok = wx.shared.Sessions.Get(ctx, cc.AppID, openid)
		if !ok {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "no session for openid: call auth.code2Session first")
		}
	}
	plain, err := weixin.DecryptPhoneNumber(cc.AppID, sk, enc, iv)
	if errors.Is(err, weixin.ErrWatermark) {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "encryptedData belongs to another app (watermark appid)")
	}
	if err != nil {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "encryptedData could not be decrypted with this session")
	}
	// The same case rules as every answer (watermark.appid → appId, as
	// phoneNumber.getPhoneNumber's phone_info gets them).
	body, err := casing.CamelJSON(plain)
	if err != nil {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "encryptedData could not be decrypted with this session")
	}
	handlers.WriteJSON(w, http.StatusOK, withErrFields(body))
	return "ok", nil
}
