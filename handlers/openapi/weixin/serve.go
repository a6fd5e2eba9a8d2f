package weixin

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// call is one parsed caller request.
type call struct {
	params map[string]any
	upload *weixin.Upload
	base64 bool
	appID  string
	token  string // caller's own accessToken, if any
}

// Serve answers one call of the API named api (the host has checked the
// method, the allow list and bounded the body and ctx).
func (wx *Weixin) Serve(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) (string, error) {
	api, ok := weixin.Lookup(name)
	if !ok {
		return "", handlers.NewError(http.StatusNotFound, handlers.ErrAPINotFound, "unknown API: "+name)
	}
	c, err := wx.parse(r, api)
	if err != nil {
		return "", err
	}
	if api.Kind == weixin.KindOAuthCode2Session || api.Kind == weixin.KindOAuthUserInfo {
		// The platform's own app: appId does not switch it.
		return wx.serveOAuth(ctx, w, api, c, &weixin.CallContext{H5AppID: wx.H5AppID, FromQuery: r.Method == http.MethodGet})
	}
	appID := c.appID
	if appID == "" {
		appID = r.Header.Get("X-Unicloud-App-Id")
	}
	if appID == "" {
		appID = wx.defaultApp
	}
	secret, ok := wx.apps[appID]
	if !ok && api.Token != weixin.TokenH5 {
		if appID == "" {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrAppNotFound, "no mini-program configured (app_id)")
		}
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrAppNotFound, "app not configured: "+appID)
	}
	cc := &weixin.CallContext{AppID: appID, H5AppID: wx.H5AppID, FromQuery: r.Method == http.MethodGet}

	switch api.Kind {
	case weixin.KindAccessToken:
		return wx.serveAccessToken(ctx, w, appID, secret)
	case weixin.KindCode2Session:
		return wx.serveCode2Session(ctx, w, api, c, cc, secret)
	case weixin.KindDecryptPhone:
		return wx.serveDecryptPhone(ctx, w, api, c, cc)
	case weixin.KindJSSDKConfig:
		return wx.serveJSSDKConfig(ctx, w, api, c, cc)
	}

	req := &weixin.Request{API: api, Upload: c.upload}
	if api.Kind == weixin.KindRequest {
		if err := wx.prepareRaw(req, c.params); err != nil {
			return "", err
		}
	} else {
		params, err := api.PrepareParams(c.params, cc)
		if err != nil {
			return "", paramError(err)
		}
		req.Params = params
		if api.Upload != "" && c.upload == nil && !(api.UploadOptional && params["img_url"] != nil) {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: "+api.Upload)
		}
	}

	tokenApp := weixin.App{ID: appID, Secret: secret}
	if api.Token == weixin.TokenH5 {
		if wx.H5AppID == "" {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrAppNotFound, "no official account configured (h5_app_id)")
		}
		tokenApp = weixin.App{ID: wx.H5AppID, Secret: wx.H5Secret}
	}
	tokenSecret := tokenApp.Secret
	req.Token = c.token // the caller's own, sent as given
	ans, err := wx.client.Call(ctx, tokenApp, req)
	if err != nil {
		return "", callError(err)
	}
	// The gateway's token and secrets never reach a caller, even when a
	// provider path echoes them (a caller's own token is theirs already).
	gatewayToken := req.Token
	if c.token != "" {
		gatewayToken = ""
	}
	if ans.JSON {
		ans.Body = redact(ans.Body, gatewayToken, secret, tokenSecret)
	} else if containsSecret(ans.Body, gatewayToken, secret, tokenSecret) {
		// A file is not edited (that would corrupt it): one that holds
		// a credential is not the provider's image but an echo of the
		// request (a proxy's or a stand-in's), and is refused.
		return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered a file that contains the gateway's credentials; not passed on")
	}
	return wx.answer(w, api, ans, c)
}

// minSecretLen: shorter values are not searched for (they would match by
// chance, and no AppSecret or access token is that short).
const minSecretLen = 8

// redact replaces every occurrence of the secrets in a JSON answer.
func redact(body []byte, secrets ...string) []byte {
	for _, s := range secrets {
		if len(s) >= minSecretLen && bytes.Contains(body, []byte(s)) {
			body = bytes.ReplaceAll(body, []byte(s), []byte("[redacted]"))
		}
	}
	return body
}

// containsSecret reports whether body holds one of the secrets.
func containsSecret(body []byte, secrets ...string) bool {
	for _, s := range secrets {
		if len(s) >= minSecretLen && bytes.Contains(body, []byte(s)) {
			return true
		}
	}
	return false
}

// prepareRaw checks the generic request's url against allow_raw. Its data is
// the provider's own dialect: passed as given.
func (wx *Weixin) prepareRaw(req *weixin.Request, in map[string]any) error {
	raw, _ := in["url"].(string)
	if raw == "" {
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: url")
	}
	method := http.MethodPost
	if m, ok := in["method"].(string); ok && m != "" {
		method = strings.ToUpper(m)
	}
	if method != http.MethodGet && method != http.MethodPost {
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be GET or POST: method")
	}
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\#") {
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be a path relative to the endpoint: url")
	}
	p, rawQuery, _ := strings.Cut(raw, "?")
	// The path is checked as the provider (or a proxy before it) will read
	// it: percent-decoded. Dot segments, however spelled (%2e%2e), and
	// control characters are refused, and what is sent is the checked path,
	// escaped anew.
	decoded, err := url.PathUnescape(p)
	if err != nil || strings.Contains(decoded, "..") || strings.ContainsAny(decoded, `\%`) ||
		strings.ContainsFunc(decoded, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be a path relative to the endpoint: url")
	}
	clean := path.Clean("/" + decoded)
	ok := false
	for _, prefix := range wx.AllowRaw {
		if strings.HasPrefix(clean, prefix) {
			ok = true
			break
		}
	}
	if !ok {
		return handlers.NewError(http.StatusForbidden, handlers.ErrAPINotAllowed, "raw path not allowed: "+clean)
	}
	q, err := parseQuery(rawQuery)
	if err != nil {
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter has a bad query string: url")
	}
	q.Del("access_token")
	req.Method, req.Path, req.Query = method, (&url.URL{Path: clean}).EscapedPath(), q
	switch d := in["data"].(type) {
	case nil:
		req.Params = map[string]any{}
	case map[string]any:
		req.Params = d
	default:
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be an object: data")
	}
	return nil
}
