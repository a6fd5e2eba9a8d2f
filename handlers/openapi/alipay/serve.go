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

const apiCode2Session = "auth.code2Session"

// Serve answers auth.code2Session: the login code is exchanged through
// alipay.system.oauth.token, and the verified answer is returned camelCase
// with openid (Alipay's open_id, or user_id for apps that still use it).
func (a *Alipay) Serve(ctx context.Context, w http.ResponseWriter, r *http.Request, api string) (string, error) {
	in, err := params(r)
	if err != nil {
		return "", err
	}
	code := firstString(in, "code", "authCode", "jsCode")
	if code == "" {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: code")
	}
	fields, err := a.client.Execute(ctx, alipay.MethodOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": code})
	if err != nil {
		var be *alipay.BusinessError
		if errors.As(err, &be) {
			handlers.ProviderErrors.WithLabelValues("alipay", api, be.ErrCode()).Inc()
			handlers.WriteAnswer(w, map[string]any{"errCode": be.ErrCode(), "errMsg": be.ErrMsg()})
			return "provider_error", nil
		}
		return "", callError(err)
	}
	out := map[string]any{}
	for k, v := range fields {
		if k == "code" || k == "msg" {
			continue
		}
		out[casing.CamelKey(k)] = casing.ToCamel(v)
	}
	openid, _ := fields["open_id"].(string)
	if openid == "" {
		openid, _ = fields["user_id"].(string)
	}
	delete(out, "openId")
	out["openid"] = openid
	out["errCode"] = 0
	out["errMsg"] = "ok"
	handlers.WriteAnswer(w, out)
	return "ok", nil
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
		return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstreamBadSignature, "the provider's answer failed the signature check")
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
