package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// OpenAPI is the gateway to the providers' server APIs (`unicloud_openapi`):
// callers send camelCase JSON, the gateway adds the secret or a cached access
// token, calls the provider in its own dialect and answers camelCase.
// Secrets and the gateway's tokens never leave it.
type OpenAPI struct {
	// Provider is "weixin" (mini-programs and official accounts) or
	// "alipay".
	Provider string `json:"provider,omitempty"`
	// AppID and Secret are the default mini-program's credentials.
	AppID  string `json:"app_id,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Apps are more mini-programs, chosen per call by `appId` in the body
	// or the X-Unicloud-App-Id header.
	Apps []App `json:"apps,omitempty"`
	// H5AppID and H5Secret are the official account's credentials, used by
	// the h5.* APIs and as the default template appid of uniformMessage.
	H5AppID  string `json:"h5_app_id,omitempty"`
	H5Secret string `json:"h5_secret,omitempty"`
	// Endpoint is the provider's API host (default https://api.weixin.qq.com);
	// point it at an emulator or an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`
	// TokenMode is "stable" (default: /cgi-bin/stable_token, which does not
	// invalidate other holders' tokens) or "classic" (/cgi-bin/token).
	TokenMode string `json:"token_mode,omitempty"`
	// AccessToken is a fixed access token: never fetched nor refreshed.
	AccessToken string `json:"access_token,omitempty"`
	// Allow lists the API names (or path.Match globs such as "auth.*") that
	// callers may use. Default: every catalog API but auth.getAccessToken.
	Allow []string `json:"allow,omitempty"`
	// AllowRaw lists provider path prefixes the generic `request` API may
	// reach. Default: none.
	AllowRaw []string `json:"allow_raw,omitempty"`
	// ExposeSessionKey returns code2Session's sessionKey to callers.
	// Default off: the session key is kept by the gateway, keyed by appid and
	// openid, for decrypt.getPhoneNumber.
	ExposeSessionKey bool `json:"expose_session_key,omitempty"`
	// Timeout bounds each provider call (default 10s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxBody bounds a caller's request body in bytes (default 2 MB).
	MaxBody int64 `json:"max_body,omitempty"`

	// PrivateKey is the Alipay application private key (PEM or bare
	// base64). Alipay only.
	PrivateKey string `json:"private_key,omitempty"`
	// KeyType is PKCS8 (default) or PKCS1. Alipay only.
	KeyType string `json:"key_type,omitempty"`
	// AlipayPublicKey verifies Alipay's answers (PEM or bare base64).
	AlipayPublicKey string `json:"alipay_public_key,omitempty"`
	// Sandbox uses Alipay's sandbox gateway. Alipay only.
	Sandbox bool `json:"sandbox,omitempty"`

	apps       map[string]string // appid -> secret
	defaultApp string            // app_id, or the first app
	allow      map[string]bool   // API names and aliases callers may use
	client     *weixin.Client
	alipay     *alipay.Client
	shared     *weixinShared
	// releaseStorage gives back the storage this config lent the shared
	// token authority and session keys.
	releaseStorage func()
	logger         *zap.Logger
	timeout        time.Duration
}

// App is a mini-program's credentials.
type App struct {
	AppID  string `json:"app_id,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (OpenAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.unicloud_openapi",
		New: func() caddy.Module { return new(OpenAPI) },
	}
}

// weixinShared is the state that outlives config reloads: one token
// authority and one session key store per process.
type weixinShared struct {
	tokens   *weixin.TokenManager
	sessions *weixin.SessionKeys
}

func (s *weixinShared) Destruct() error {
	s.tokens.Close()
	s.sessions.Close()
	return nil
}

var sharedPool = caddy.NewUsagePool()

const weixinSharedKey = "unicloud.weixin"

// Provision sets defaults, resolves placeholders and takes the shared token
// authority. It makes no network call.
func (h *OpenAPI) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := resolveOptions("unicloud_openapi", option{"provider", &h.Provider, false}, option{"app_id", &h.AppID, false},
		option{"secret", &h.Secret, false}, option{"h5_app_id", &h.H5AppID, false}, option{"h5_secret", &h.H5Secret, false},
		option{"endpoint", &h.Endpoint, false}, option{"token_mode", &h.TokenMode, false},
		option{"access_token", &h.AccessToken, false}); err != nil {
		return err
	}
	if h.Provider == "" {
		h.Provider = "weixin"
	}
	if h.Provider == "alipay" {
		return h.provisionAlipay(ctx)
	}
	if h.Provider != "weixin" {
		return fmt.Errorf("unicloud_openapi: unknown provider %q (weixin or alipay)", h.Provider)
	}
	if h.TokenMode == "" {
		h.TokenMode = "stable"
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(10 * time.Second)
	}
	h.timeout = time.Duration(h.Timeout)
	if h.MaxBody <= 0 {
		h.MaxBody = 2 << 20
	}
	h.apps = make(map[string]string)
	if h.AppID != "" {
		h.apps[h.AppID] = h.Secret
		h.defaultApp = h.AppID
	}
	for _, a := range h.Apps {
		id, err := resolveSecret("app", a.AppID)
		if err != nil {
			return fmt.Errorf("unicloud_openapi: %w", err)
		}
		if id == "" {
			return errors.New("unicloud_openapi: an app without app_id")
		}
		if h.apps[id], err = resolveSecret("secret of app "+id, a.Secret); err != nil {
			return fmt.Errorf("unicloud_openapi: %w", err)
		}
		if h.defaultApp == "" {
			h.defaultApp = id
		}
	}
	h.allow = allowedAPIs(h.Allow)
	for _, pattern := range h.Allow {
		if len(allowedAPIs([]string{pattern})) == 0 {
			h.logger.Warn("allow pattern matches no API", zap.String("pattern", pattern))
		}
	}
	endpoint := h.Endpoint
	if endpoint == "" {
		endpoint = weixin.DefaultEndpoint
	}
	h.Endpoint = strings.TrimRight(endpoint, "/")
	h.client = &weixin.Client{
		Endpoint: h.Endpoint,
		// Each call's context carries the deadline (timeout); token
		// fetches bound their own.
		HTTP: &http.Client{Transport: newTransport(), CheckRedirect: noRedirects},
	}

	registerCollectors(ctx.GetMetricsRegistry(), OpenAPICalls, TokenFetches, ProviderErrors)
	val, _, err := sharedPool.LoadOrNew(weixinSharedKey, func() (caddy.Destructor, error) {
		tm, err := weixin.NewTokenManager(nil)
		if err != nil {
			return nil, err
		}
		tm.Events.Fetch = func(result string) { TokenFetches.WithLabelValues("weixin", result).Inc() }
		tm.Events.Shared = func() { TokenFetches.WithLabelValues("weixin", "shared").Inc() }
		sk, err := weixin.NewSessionKeys(nil)
		if err != nil {
			tm.Close()
			return nil, err
		}
		return &weixinShared{tokens: tm, sessions: sk}, nil
	})
	if err != nil {
		return err
	}
	h.shared = val.(*weixinShared)
	if st := contextStorage(ctx); st != nil {
		// Held until Cleanup: a config that fails to load gives its
		// storage back, and the running config's stays in use.
		releaseTokens := h.shared.tokens.UseStorage(st, h.logger)
		releaseSessions := h.shared.sessions.UseStorage(st, h.logger)
		h.releaseStorage = func() { releaseTokens(); releaseSessions() }
	}
	return nil
}

// Validate checks the configuration.
func (h *OpenAPI) Validate() error {
	if h.Provider == "alipay" {
		return h.validateAlipay()
	}
	if h.TokenMode != "stable" && h.TokenMode != "classic" {
		return fmt.Errorf("unicloud_openapi: token_mode must be stable or classic, not %q", h.TokenMode)
	}
	if len(h.apps) == 0 && h.H5AppID == "" {
		return errors.New("unicloud_openapi weixin: app_id (or h5_app_id) is required")
	}
	if h.AccessToken == "" {
		// An empty secret is most often an unset {env.*} or a missing
		// {file.*}: say so now rather than at the first call.
		for id, secret := range h.apps {
			if secret == "" {
				return fmt.Errorf("unicloud_openapi weixin: the secret of app %s is empty (an unset placeholder?)", id)
			}
		}
		if h.H5AppID != "" && h.H5Secret == "" {
			return fmt.Errorf("unicloud_openapi weixin: h5_secret of %s is empty (an unset placeholder?)", h.H5AppID)
		}
	}
	if u, err := url.Parse(h.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("unicloud_openapi weixin: endpoint %q is not an http(s) URL", h.Endpoint)
	}
	for _, pattern := range h.Allow {
		if _, err := path.Match(pattern, ""); err != nil {
			return fmt.Errorf("unicloud_openapi: bad allow pattern %q", pattern)
		}
	}
	for _, p := range h.AllowRaw {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("unicloud_openapi: allow_raw prefix %q must start with /", p)
		}
	}
	return nil
}

// Cleanup gives back the shared state.
func (h *OpenAPI) Cleanup() error {
	if h.releaseStorage != nil {
		h.releaseStorage()
	}
	// The old config's connections to the provider are not reused.
	if h.client != nil && h.client.HTTP != nil {
		h.client.HTTP.CloseIdleConnections()
	}
	if h.alipay != nil && h.alipay.HTTP != nil {
		h.alipay.HTTP.CloseIdleConnections()
	}
	if h.shared != nil {
		_, err := sharedPool.Delete(weixinSharedKey)
		return err
	}
	return nil
}

// ServeHTTP answers one API call. It is a terminal handler: next is not
// called.
func (h *OpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.Provider == "alipay" {
		return h.serveAlipay(w, r)
	}
	api := lookupAPI(r.URL.Path)
	label := "unknown"
	if api != nil {
		label = api.Name
	}
	ignored := r.Method == http.MethodGet && r.ContentLength != 0
	if ignored {
		// A GET's parameters are its query string; its body is not
		// read. The call is still served (a library that sends "{}"
		// with every GET keeps working), and the caller is told.
		w.Header().Set("X-Unicloud-Warning", getBodyIgnored)
	}
	outcome, err := h.serve(w, r, api)
	var ge *gatewayError
	if ignored && errors.As(err, &ge) && ge.Code == ErrBadRequest {
		ge.Msg += " (" + getBodyIgnored + ")"
	}
	if err != nil {
		outcome = failCall(w, h.logger, err, zap.String("api", label))
	}
	OpenAPICalls.WithLabelValues("weixin", label, outcome).Inc()
	return nil
}

// getBodyIgnored is the warning of a GET call that came with a body.
const getBodyIgnored = "the body of a GET request is ignored: send parameters in the query string, or use POST with a JSON body"

// lookupAPI finds the API named by the request path: the path after the
// route prefix, with slashes or dots. A prefix that was not stripped
// (`handle /wx/*` rather than `handle_path`) is skipped.
func lookupAPI(p string) *weixin.API {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	// An API name has at most MaxNameParts dotted parts, so only that many
	// trailing segments can name one: a path of many thousands of
	// segments costs no more than a short one.
	for i := max(0, len(segs)-weixin.MaxNameParts); i < len(segs); i++ {
		if a, ok := weixin.Lookup(strings.Join(segs[i:], ".")); ok {
			return a
		}
	}
	return nil
}

// unknownAPI is the answer to a path that names no API, with the nearest
// catalog name when one is close: the longest path suffix that is near one
// wins, as lookupAPI skips an unstripped route prefix.
func unknownAPI(p string) error {
	name := strings.Trim(p, "/")
	msg := "unknown API: " + name
	segs := strings.Split(name, "/")
	for i := max(0, len(segs)-weixin.MaxNameParts); i < len(segs); i++ {
		if s, ok := weixin.Suggest(strings.Join(segs[i:], ".")); ok {
			msg += " (did you mean " + s + "?)"
			break
		}
	}
	return newError(http.StatusNotFound, ErrAPINotFound, msg)
}

// allowedAPIs resolves the allow patterns against the catalog once, so a
// call costs one map lookup. An API is allowed when a pattern matches its
// name or one of its aliases; with no patterns, every API but
// auth.getAccessToken is.
func allowedAPIs(patterns []string) map[string]bool {
	allow := make(map[string]bool)
	for _, a := range weixin.Catalog {
		names := append([]string{a.Name}, a.Aliases...)
		ok := len(patterns) == 0 && a.Name != "auth.getAccessToken"
		for _, pattern := range patterns {
			for _, n := range names {
				if m, _ := path.Match(pattern, n); m {
					ok = true
				}
			}
		}
		if ok {
			for _, n := range names {
				allow[n] = true
			}
		}
	}
	return allow
}

// call is one parsed caller request.
type call struct {
	params map[string]any
	upload *weixin.Upload
	base64 bool
	appID  string
	token  string // caller's own accessToken, if any
}

func (h *OpenAPI) serve(w http.ResponseWriter, r *http.Request, api *weixin.API) (string, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		// HEAD or OPTIONS must not spend a login code or send a message.
		w.Header().Set("Allow", "GET, POST")
		return "", newError(http.StatusMethodNotAllowed, ErrBadRequest, "calls are GET or POST requests")
	}
	if api == nil {
		return "", unknownAPI(r.URL.Path)
	}
	if !h.allow[api.Name] {
		return "", newError(http.StatusForbidden, ErrAPINotAllowed, "API not allowed: "+api.Name)
	}
	c, err := h.parse(r, api)
	if err != nil {
		return "", err
	}
	appID := c.appID
	if appID == "" {
		appID = r.Header.Get("X-Unicloud-App-Id")
	}
	if appID == "" {
		appID = h.defaultApp
	}
	secret, ok := h.apps[appID]
	if !ok && api.Token != weixin.TokenH5 {
		if appID == "" {
			return "", newError(http.StatusBadRequest, ErrAppNotFound, "no mini-program configured (app_id)")
		}
		return "", newError(http.StatusBadRequest, ErrAppNotFound, "app not configured: "+appID)
	}
	cc := &weixin.CallContext{AppID: appID, H5AppID: h.H5AppID, FromQuery: r.Method == http.MethodGet}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()

	switch api.Kind {
	case weixin.KindAccessToken:
		return h.serveAccessToken(ctx, w, appID, secret)
	case weixin.KindCode2Session:
		return h.serveCode2Session(ctx, w, api, c, cc, secret)
	case weixin.KindDecryptPhone:
		return h.serveDecryptPhone(ctx, w, api, c, cc)
	}

	req := &weixin.Request{API: api, Upload: c.upload}
	if api.Kind == weixin.KindRequest {
		if err := h.prepareRaw(req, c.params); err != nil {
			return "", err
		}
	} else {
		params, err := api.PrepareParams(c.params, cc)
		if err != nil {
			return "", paramError(err)
		}
		req.Params = params
		if api.Upload != "" && c.upload == nil && !(api.UploadOptional && params["img_url"] != nil) {
			return "", newError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: "+api.Upload)
		}
	}

	tokenApp, tokenSecret := appID, secret
	if api.Token == weixin.TokenH5 {
		if h.H5AppID == "" {
			return "", newError(http.StatusBadRequest, ErrAppNotFound, "no official account configured (h5_app_id)")
		}
		tokenApp, tokenSecret = h.H5AppID, h.H5Secret
	}
	ans, err := h.callWithToken(ctx, req, c.token, tokenApp, tokenSecret)
	if err != nil {
		return "", err
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
		return "", newError(http.StatusBadGateway, ErrUpstream, "provider answered a file that contains the gateway's credentials; not passed on")
	}
	return h.answer(w, api, ans, c)
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

// callWithToken sends the call with an access token and, when the provider
// rejects the gateway's token, drops it, gets another and retries once.
func (h *OpenAPI) callWithToken(ctx context.Context, req *weixin.Request, own, appID, secret string) (*weixin.Answer, error) {
	if own != "" || h.AccessToken != "" {
		// A caller's own token, or the configured fixed token: used as
		// given, never refreshed.
		req.Token = own
		if req.Token == "" {
			req.Token = h.AccessToken
		}
		return h.do(ctx, req)
	}
	key := weixin.TokenKey(h.Endpoint, appID)
	fetch := h.fetcher(appID, secret)
	tok, err := h.shared.tokens.Token(ctx, key, fetch)
	if err != nil {
		return nil, tokenError(err)
	}
	req.Token = tok.Value
	ans, err := h.do(ctx, req)
	if err != nil || !ans.JSON || !ans.TokenRejected() {
		return ans, err
	}
	h.logger.Info("provider rejected the access token; refreshing once",
		zap.String("app_id", appID), zap.Int64("errcode", ans.ErrCode))
	tok, err = h.shared.tokens.Invalidate(ctx, key, tok.Value, fetch)
	if err != nil {
		return nil, tokenError(err)
	}
	req.Token = tok.Value
	return h.do(ctx, req)
}

func (h *OpenAPI) fetcher(appID, secret string) weixin.FetchFunc {
	return func(ctx context.Context, force bool) (weixin.Token, error) {
		ctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		if h.TokenMode == "classic" {
			return h.client.FetchClassicToken(ctx, appID, secret)
		}
		return h.client.FetchStableToken(ctx, appID, secret, force)
	}
}

func (h *OpenAPI) do(ctx context.Context, req *weixin.Request) (*weixin.Answer, error) {
	ans, err := h.client.Do(ctx, req)
	if err != nil {
		return nil, upstreamError(err)
	}
	return ans, nil
}

func tokenError(err error) error {
	var ue *weixin.UpstreamError
	if errors.As(err, &ue) && ue.Timeout {
		return newError(http.StatusGatewayTimeout, ErrUpstreamTimeout, "access token: "+ue.Reason)
	}
	if ue != nil && ue.Unreachable {
		// The provider itself is down: the same error as any other call.
		return newError(http.StatusBadGateway, ErrUpstream, "access token: "+ue.Reason)
	}
	var te *weixin.TokenError
	if errors.As(err, &te) {
		return newError(http.StatusBadGateway, ErrTokenUnavailable,
			fmt.Sprintf("access token could not be obtained (provider errcode %d)", te.ErrCode))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(http.StatusGatewayTimeout, ErrUpstreamTimeout, "access token: provider did not answer in time")
	}
	return newError(http.StatusBadGateway, ErrTokenUnavailable, "access token could not be obtained")
}

func upstreamError(err error) error {
	var pe *weixin.ParamError
	if errors.As(err, &pe) {
		return paramError(pe)
	}
	var ue *weixin.UpstreamError
	if errors.As(err, &ue) {
		if ue.Timeout {
			return newError(http.StatusGatewayTimeout, ErrUpstreamTimeout, ue.Reason)
		}
		return newError(http.StatusBadGateway, ErrUpstream, ue.Reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(http.StatusGatewayTimeout, ErrUpstreamTimeout, "provider did not answer in time")
	}
	return newError(http.StatusBadGateway, ErrUpstream, "provider call failed")
}

func paramError(err error) error {
	return newError(http.StatusBadRequest, ErrBadRequest, err.Error())
}

// answer turns the provider's answer into the caller's.
func (h *OpenAPI) answer(w http.ResponseWriter, api *weixin.API, ans *weixin.Answer, c *call) (string, error) {
	if !ans.JSON {
		if !api.Binary || ans.Status >= 300 {
			return "", newError(http.StatusBadGateway, ErrUpstream, "provider answered an unexpected content type")
		}
		ct := ans.ContentType
		if ct == "" {
			ct = http.DetectContentType(ans.Body)
		}
		if strings.HasPrefix(strings.ToLower(ct), "text/") {
			// A file API answered a page (a proxy's error page, a
			// captive portal): not the caller's file.
			return "", newError(http.StatusBadGateway, ErrUpstream, "provider answered an unexpected content type")
		}
		if c.base64 {
			body, _ := json.Marshal(map[string]any{
				"errCode": 0, "errMsg": "ok", "contentType": ct,
				"buffer": base64.StdEncoding.EncodeToString(ans.Body),
			})
			writeJSON(w, http.StatusOK, body)
			return "ok", nil
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(ans.Body)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ans.Body)
		return "ok", nil
	}
	body, err := casing.CamelJSON(ans.Body)
	if err != nil {
		return "", newError(http.StatusBadGateway, ErrUpstream, "provider answered unparseable JSON")
	}
	body = withErrFields(body)
	outcome := "ok"
	if ans.ErrCode != 0 {
		outcome = "provider_error"
		ProviderErrors.WithLabelValues("weixin", api.Name, strconv.FormatInt(ans.ErrCode, 10)).Inc()
	}
	writeJSON(w, http.StatusOK, body)
	return outcome, nil
}

// withErrFields adds errCode 0 and errMsg "ok" to a camelCase answer that
// has no errCode (WeChat omits it on success for some APIs).
func withErrFields(body []byte) []byte {
	res := gjson.GetBytes(body, "errCode")
	if res.Exists() {
		if !gjson.GetBytes(body, "errMsg").Exists() {
			return insertFields(body, `"errMsg":"ok"`)
		}
		return body
	}
	return insertFields(body, `"errCode":0,"errMsg":"ok"`)
}

func insertFields(obj []byte, fields string) []byte {
	i := bytes.IndexByte(obj, '{')
	if i < 0 {
		return obj
	}
	rest := bytes.TrimLeft(obj[i+1:], " \t\r\n")
	out := make([]byte, 0, len(obj)+len(fields)+1)
	out = append(out, obj[:i+1]...)
	out = append(out, fields...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

func (h *OpenAPI) serveAccessToken(ctx context.Context, w http.ResponseWriter, appID, secret string) (string, error) {
	var tok weixin.Token
	if h.AccessToken != "" {
		tok = weixin.Token{Value: h.AccessToken, ExpiresAt: time.Now().Add(7200 * time.Second)}
	} else {
		var err error
		tok, err = h.shared.tokens.Token(ctx, weixin.TokenKey(h.Endpoint, appID), h.fetcher(appID, secret))
		if err != nil {
			return "", tokenError(err)
		}
	}
	body, _ := json.Marshal(map[string]any{
		"errCode": 0, "errMsg": "ok", "accessToken": tok.Value,
		"expiresIn": int64(time.Until(tok.ExpiresAt).Seconds()),
	})
	writeJSON(w, http.StatusOK, body)
	return "ok", nil
}

func (h *OpenAPI) serveCode2Session(ctx context.Context, w http.ResponseWriter, api *weixin.API, c *call, cc *weixin.CallContext, secret string) (string, error) {
	params, err := api.PrepareParams(c.params, cc)
	if err != nil {
		return "", paramError(err)
	}
	code, _ := params["js_code"].(string)
	ans, err := h.client.Code2Session(ctx, cc.AppID, secret, code)
	if err != nil {
		return "", upstreamError(err)
	}
	ans.Body = redact(ans.Body, secret)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(ans.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return "", newError(http.StatusBadGateway, ErrUpstream, "provider answered unparseable JSON")
	}
	sk, _ := m["session_key"].(string)
	openid, _ := m["openid"].(string)
	if ans.ErrCode == 0 && sk != "" && openid != "" {
		h.shared.sessions.Put(ctx, cc.AppID, openid, sk)
	}
	if !h.ExposeSessionKey {
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
		ProviderErrors.WithLabelValues("weixin", api.Name, strconv.FormatInt(ans.ErrCode, 10)).Inc()
	}
	writeJSON(w, http.StatusOK, body)
	return outcome, nil
}

func (h *OpenAPI) serveDecryptPhone(ctx context.Context, w http.ResponseWriter, api *weixin.API, c *call, cc *weixin.CallContext) (string, error) {
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
			return "", newError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: openid (or sessionKey)")
		}
		var ok bool
		sk, ok = h.shared.sessions.Get(ctx, cc.AppID, openid)
		if !ok {
			return "", newError(http.StatusBadRequest, ErrBadRequest, "no session for openid: call auth.code2Session first")
		}
	}
	plain, err := weixin.DecryptPhoneNumber(cc.AppID, sk, enc, iv)
	if errors.Is(err, weixin.ErrWatermark) {
		return "", newError(http.StatusBadRequest, ErrBadRequest, "encryptedData belongs to another app (watermark appid)")
	}
	if err != nil {
		return "", newError(http.StatusBadRequest, ErrBadRequest, "encryptedData could not be decrypted with this session")
	}
	// The same case rules as every answer (watermark.appid → appId, as
	// phoneNumber.getPhoneNumber's phone_info gets them).
	body, err := casing.CamelJSON(plain)
	if err != nil {
		return "", newError(http.StatusBadRequest, ErrBadRequest, "encryptedData could not be decrypted with this session")
	}
	writeJSON(w, http.StatusOK, withErrFields(body))
	return "ok", nil
}

// prepareRaw checks the generic request's url against allow_raw. Its data is
// the provider's own dialect: passed as given.
func (h *OpenAPI) prepareRaw(req *weixin.Request, in map[string]any) error {
	raw, _ := in["url"].(string)
	if raw == "" {
		return newError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: url")
	}
	method := http.MethodPost
	if m, ok := in["method"].(string); ok && m != "" {
		method = strings.ToUpper(m)
	}
	if method != http.MethodGet && method != http.MethodPost {
		return newError(http.StatusBadRequest, ErrBadRequest, "parameter must be GET or POST: method")
	}
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\#") {
		return newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a path relative to the endpoint: url")
	}
	p, rawQuery, _ := strings.Cut(raw, "?")
	// The path is checked as the provider (or a proxy before it) will read
	// it: percent-decoded. Dot segments, however spelled (%2e%2e), and
	// control characters are refused, and what is sent is the checked path,
	// escaped anew.
	decoded, err := url.PathUnescape(p)
	if err != nil || strings.Contains(decoded, "..") || strings.ContainsAny(decoded, `\%`) ||
		strings.ContainsFunc(decoded, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a path relative to the endpoint: url")
	}
	clean := path.Clean("/" + decoded)
	ok := false
	for _, prefix := range h.AllowRaw {
		if strings.HasPrefix(clean, prefix) {
			ok = true
			break
		}
	}
	if !ok {
		return newError(http.StatusForbidden, ErrAPINotAllowed, "raw path not allowed: "+clean)
	}
	q, err := parseQuery(rawQuery)
	if err != nil {
		return newError(http.StatusBadRequest, ErrBadRequest, "parameter has a bad query string: url")
	}
	q.Del("access_token")
	req.Method, req.Path, req.Query = method, (&url.URL{Path: clean}).EscapedPath(), q
	switch d := in["data"].(type) {
	case nil:
		req.Params = map[string]any{}
	case map[string]any:
		req.Params = d
	default:
		return newError(http.StatusBadRequest, ErrBadRequest, "parameter must be an object: data")
	}
	return nil
}

// parse reads the caller's parameters: query string (GET), JSON object or
// multipart form (uploads).
func (h *OpenAPI) parse(r *http.Request, api *weixin.API) (*call, error) {
	c := &call{params: map[string]any{}}
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 && controlNames[k] != "" {
			// ?appId=a&appId=b: which app is meant is not the
			// gateway's guess.
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter given more than once: "+controlNames[k])
		}
		if len(vs) > 0 {
			c.params[k] = vs[0]
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != nil {
		body := http.MaxBytesReader(nil, r.Body, h.MaxBody)
		mt, mparams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "multipart/form-data" {
			if err := parseMultipart(c, body, mparams["boundary"], api, h.MaxBody); err != nil {
				return nil, err
			}
		} else {
			b, err := io.ReadAll(body)
			if err != nil {
				return nil, bodyError(err)
			}
			m, err := decodeObject(b)
			if err != nil {
				return nil, err
			}
			for k, v := range m {
				c.params[k] = v
			}
		}
	}
	// Control parameters.
	var err error
	if c.appID, err = controlString(c.params, "appId"); err != nil {
		return nil, err
	}
	if ids := r.Header.Values("X-Unicloud-App-Id"); c.appID == "" && len(ids) > 1 {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "header given more than once: X-Unicloud-App-Id")
	}
	if c.token, err = controlString(c.params, "accessToken"); err != nil {
		return nil, err
	}
	encoding, err := controlString(c.params, "encoding")
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(encoding, "base64") {
		c.base64 = true
	}
	if acceptsJSONOnly(r.Header.Values("Accept")) {
		c.base64 = true
	}
	delete(c.params, "encoding")
	if api.Upload != "" && c.upload == nil {
		up, err := jsonUpload(c.params, api.Upload)
		if err != nil {
			return nil, err
		}
		c.upload = up
	}
	return c, nil
}

// controlNames maps every accepted spelling of a control parameter (the
// gateway's, never forwarded) to the caller's name for it.
var controlNames = map[string]string{
	"appId": "appId", "appid": "appId", "app_id": "appId",
	"accessToken": "accessToken", "access_token": "accessToken",
	"encoding": "encoding",
}

// controlString reads the control parameter name, given in any of its
// spellings. It must be a string: an array, number, object or boolean is
// refused rather than ignored (an ignored appId would serve the default
// app). null and "" are absent; two spellings with different values are
// refused.
func controlString(params map[string]any, name string) (string, error) {
	value := ""
	for k, n := range controlNames {
		if n != name {
			continue
		}
		raw, ok := params[k]
		if !ok || raw == nil {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return "", newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a string: "+name)
		}
		if s == "" {
			continue
		}
		if value != "" && value != s {
			return "", newError(http.StatusBadRequest, ErrBadRequest, "parameter given twice with different values: "+name)
		}
		value = s
	}
	return value, nil
}

// acceptsJSONOnly reports whether the Accept header asks for JSON and not
// for images or anything (a library's default "application/json,
// text/plain, */*" still gets the image).
func acceptsJSONOnly(accept []string) bool {
	json := false
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			switch {
			case mt == "application/json":
				json = true
			case mt == "*/*" || strings.HasPrefix(mt, "image/"):
				return false
			}
		}
	}
	return json
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OpenAPI)(nil)
	_ caddy.Validator             = (*OpenAPI)(nil)
	_ caddy.CleanerUpper          = (*OpenAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*OpenAPI)(nil)
)
