package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// The Alipay side of unicloud_openapi: auth.code2Session through
// alipay.system.oauth.token, signed RSA2, the answer verified.

// alipayAPIs are the Alipay APIs of the gateway, with their aliases.
var alipayAPIs = map[string]string{
	"auth.code2Session": "auth.code2Session",
	"auth.getOpenid":    "auth.code2Session",
}

func (h *OpenAPI) provisionAlipay(ctx caddy.Context) error {
	if err := resolveOptions("unicloud_openapi alipay", option{"private_key", &h.PrivateKey, true},
		option{"key_type", &h.KeyType, false}, option{"alipay_public_key", &h.AlipayPublicKey, true}); err != nil {
		return err
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(10 * time.Second)
	}
	h.timeout = time.Duration(h.Timeout)
	if h.MaxBody <= 0 {
		h.MaxBody = 64 << 10
	}
	if h.KeyType == "" {
		h.KeyType = "PKCS8"
	}
	registerCollectors(ctx.GetMetricsRegistry(), OpenAPICalls, ProviderErrors)
	endpoint := strings.TrimRight(h.Endpoint, "/")
	if endpoint == "" {
		endpoint = alipay.DefaultEndpoint
		if h.Sandbox {
			endpoint = alipay.SandboxEndpoint
		}
	}
	h.Endpoint = endpoint
	c := &alipay.Client{
		AppID:    h.AppID,
		Endpoint: endpoint,
		HTTP:     &http.Client{Timeout: h.timeout, Transport: newTransport(), CheckRedirect: noRedirects},
	}
	if h.PrivateKey != "" {
		key, err := parseAppKey(h.PrivateKey, h.KeyType, h.logger)
		if err != nil {
			return fmt.Errorf("unicloud_openapi alipay: private_key: %w", err)
		}
		c.PrivateKey = key
	}
	if h.AlipayPublicKey != "" {
		pub, err := signing.ParseRSAPublicKey(h.AlipayPublicKey)
		if err != nil {
			return fmt.Errorf("unicloud_openapi alipay: alipay_public_key: %w", err)
		}
		c.AlipayPublicKey = pub
	}
	h.alipay = c
	return nil
}

func (h *OpenAPI) validateAlipay() error {
	if h.AppID == "" || h.PrivateKey == "" || h.AlipayPublicKey == "" {
		return errors.New("unicloud_openapi alipay: app_id, private_key and alipay_public_key are required")
	}
	if h.KeyType != "PKCS8" && h.KeyType != "PKCS1" {
		return fmt.Errorf("unicloud_openapi alipay: key_type must be PKCS8 or PKCS1, not %q", h.KeyType)
	}
	if err := checkHTTPURL("endpoint", h.Endpoint); err != nil {
		return fmt.Errorf("unicloud_openapi alipay: %w", err)
	}
	if h.Secret != "" || len(h.Apps) > 0 || h.H5AppID != "" || h.AccessToken != "" || len(h.AllowRaw) > 0 {
		return errors.New("unicloud_openapi alipay: secret, app, h5_app_id, access_token and allow_raw are for provider weixin")
	}
	for _, pattern := range h.Allow {
		if _, err := path.Match(pattern, ""); err != nil {
			return fmt.Errorf("unicloud_openapi: bad allow pattern %q", pattern)
		}
	}
	return nil
}

// alipayAPIName finds the API a request path names (slashes or dots, after
// any unstripped route prefix).
func alipayAPIName(p string) (string, bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := range segs {
		if name, ok := alipayAPIs[strings.Join(segs[i:], ".")]; ok {
			return name, true
		}
	}
	return "", false
}

func (h *OpenAPI) serveAlipay(w http.ResponseWriter, r *http.Request) error {
	name, ok := alipayAPIName(r.URL.Path)
	label := name
	if !ok {
		label = "unknown"
	}
	outcome, err := h.serveAlipayAPI(w, r, name, ok)
	if err != nil {
		outcome = failCall(w, h.logger, err, zap.String("api", label))
	}
	OpenAPICalls.WithLabelValues("alipay", label, outcome).Inc()
	return nil
}

func (h *OpenAPI) alipayAllowed(name string) bool {
	if len(h.Allow) == 0 {
		return true
	}
	for _, pattern := range h.Allow {
		for alias, api := range alipayAPIs {
			if api != name {
				continue
			}
			if m, _ := path.Match(pattern, alias); m {
				return true
			}
		}
	}
	return false
}

func (h *OpenAPI) serveAlipayAPI(w http.ResponseWriter, r *http.Request, name string, known bool) (string, error) {
	if !known {
		return "", newError(http.StatusNotFound, ErrAPINotFound, "unknown API: "+strings.Trim(r.URL.Path, "/"))
	}
	if !h.alipayAllowed(name) {
		return "", newError(http.StatusForbidden, ErrAPINotAllowed, "API not allowed: "+name)
	}
	c := h.alipay
	if c == nil {
		return "", newError(http.StatusBadGateway, ErrUpstream, "handler not provisioned")
	}
	var in payParams
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		in = payParams{}
		for k, vs := range r.URL.Query() {
			if len(vs) > 0 {
				in[casing.CamelKey(k)] = vs[0]
			}
		}
	} else {
		var err error
		if in, err = readPayParams(r, h.MaxBody); err != nil {
			return "", err
		}
	}
	_, code, err := in.oneOf("code", "authCode", "jsCode")
	if err != nil {
		return "", newError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: code")
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	fields, err := c.Execute(ctx, alipay.MethodOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": code})
	if err != nil {
		var be *alipay.BusinessError
		if errors.As(err, &be) {
			ProviderErrors.WithLabelValues("alipay", name, be.ErrCode()).Inc()
			writeAnswer(w, map[string]any{"errCode": be.ErrCode(), "errMsg": be.ErrMsg()})
			return "provider_error", nil
		}
		return "", paymentError(err)
	}
	out := map[string]any{}
	for k, v := range fields {
		if k == "code" || k == "msg" {
			continue
		}
		out[casing.CamelKey(k)] = casing.ToCamel(v)
	}
	// openid is Alipay's open_id, or user_id for apps that still use it.
	openid, _ := fields["open_id"].(string)
	if openid == "" {
		openid, _ = fields["user_id"].(string)
	}
	delete(out, "openId")
	out["openid"] = openid
	out["errCode"] = 0
	out["errMsg"] = "ok"
	writeAnswer(w, out)
	return "ok", nil
}
