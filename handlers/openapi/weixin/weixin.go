// Package weixin is the WeChat provider of unicloud_openapi: the guest
// module unicloud.openapi.providers.weixin, which calls the mini-program and
// official-account server API (providers/weixin) with the gateway's
// secrets and access tokens.
package weixin

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/openapi"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

func init() {
	caddy.RegisterModule(Weixin{})
}

// Weixin calls WeChat for one or more mini-programs and an official
// account. Secrets are best given as placeholders ({env.*}, {file.*}).
type Weixin struct {
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
	// MobileAppID and MobileSecret are the open-platform mobile app's
	// credentials (app.oauth.*).
	MobileAppID  string `json:"mobile_app_id,omitempty"`
	MobileSecret string `json:"mobile_secret,omitempty"`
	// WebAppID and WebSecret are the open-platform website app's
	// credentials (web.oauth.*).
	WebAppID  string `json:"web_app_id,omitempty"`
	WebSecret string `json:"web_secret,omitempty"`
	// Endpoint is WeChat's API host (default https://api.weixin.qq.com);
	// point it at an emulator or an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`
	// TokenMode is "stable" (default: /cgi-bin/stable_token, which does not
	// invalidate other holders' tokens) or "classic" (/cgi-bin/token).
	TokenMode string `json:"token_mode,omitempty"`
	// AccessToken is a fixed access token: never fetched nor refreshed.
	AccessToken string `json:"access_token,omitempty"`
	// AllowRaw lists provider path prefixes the generic `request` API may
	// reach. Default: none.
	AllowRaw []string `json:"allow_raw,omitempty"`
	// ExposeSessionKey returns code2Session's sessionKey to callers.
	// Default off: the session key is kept by the gateway, keyed by appid
	// and openid, for decrypt.getPhoneNumber.
	ExposeSessionKey bool `json:"expose_session_key,omitempty"`
	// ExposeUserToken returns <p>.oauth.code2Session's user accessToken,
	// refreshToken and expiresIn to callers, and lets getUserInfo take a
	// caller's accessToken. Default off: the user tokens are kept by the
	// gateway, keyed by appid and openid.
	ExposeUserToken bool `json:"expose_user_token,omitempty"`

	apps       map[string]string // appid -> secret
	defaultApp string            // app_id, or the first app
	client     *weixin.Client
	shared     *handlers.WeixinState
	// releaseStorage gives back the storage this config lent the shared
	// token authority and session keys.
	releaseStorage func()
	logger         *zap.Logger
}

// App is a mini-program's credentials.
type App struct {
	// AppID is the mini-program's appid.
	AppID string `json:"app_id,omitempty"`
	// Secret is its AppSecret.
	Secret string `json:"secret,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Weixin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.openapi.providers.weixin",
		New: func() caddy.Module { return new(Weixin) },
	}
}

// Provision sets defaults, resolves placeholders and takes the shared token
// authority. It makes no network call.
func (wx *Weixin) Provision(ctx caddy.Context) error {
	wx.logger = ctx.Logger()
	if err := handlers.ResolveOptions("unicloud_openapi weixin", handlers.Option{Name: "app_id", Value: &wx.AppID},
		handlers.Option{Name: "secret", Value: &wx.Secret}, handlers.Option{Name: "h5_app_id", Value: &wx.H5AppID},
		handlers.Option{Name: "h5_secret", Value: &wx.H5Secret}, handlers.Option{Name: "endpoint", Value: &wx.Endpoint},
		handlers.Option{Name: "mobile_app_id", Value: &wx.MobileAppID}, handlers.Option{Name: "mobile_secret", Value: &wx.MobileSecret},
		handlers.Option{Name: "web_app_id", Value: &wx.WebAppID}, handlers.Option{Name: "web_secret", Value: &wx.WebSecret},
		handlers.Option{Name: "token_mode", Value: &wx.TokenMode}, handlers.Option{Name: "access_token", Value: &wx.AccessToken}); err != nil {
		return err
	}
	if wx.TokenMode == "" {
		wx.TokenMode = weixin.TokenStable
	}
	wx.apps = make(map[string]string)
	if wx.AppID != "" {
		wx.apps[wx.AppID] = wx.Secret
		wx.defaultApp = wx.AppID
	}
	for _, a := range wx.Apps {
		id, err := handlers.ResolveSecret("app", a.AppID)
		if err != nil {
			return fmt.Errorf("unicloud_openapi weixin: %w", err)
		}
		if id == "" {
			return errors.New("unicloud_openapi weixin: an app without app_id")
		}
		if wx.apps[id], err = handlers.ResolveSecret("secret of app "+id, a.Secret); err != nil {
			return fmt.Errorf("unicloud_openapi weixin: %w", err)
		}
		if wx.defaultApp == "" {
			wx.defaultApp = id
		}
	}
	endpoint := wx.Endpoint
	if endpoint == "" {
		endpoint = weixin.DefaultEndpoint
	}
	wx.Endpoint = strings.TrimRight(endpoint, "/")

	st, release, err := handlers.AcquireWeixinState(ctx, wx.logger)
	if err != nil {
		return err
	}
	// Held until Cleanup: a config that fails to load gives its storage
	// back, and the running config's stays in use.
	wx.shared, wx.releaseStorage = st, release
	logger := wx.logger
	wx.client = &weixin.Client{
		Endpoint: wx.Endpoint,
		// Each call's context carries the deadline (the host's
		// timeout); token fetches bound their own (TokenTimeout).
		// Straight to the transport: no redirect is ever followed.
		Transport:   handlers.NewTransport(),
		Tokens:      wx.shared.Tokens,
		TokenMode:   wx.TokenMode,
		AccessToken: wx.AccessToken,
		OnTokenRejected: func(appID string, errcode int64) {
			logger.Info("provider rejected the access token; refreshing once",
				zap.String("app_id", appID), zap.Int64("errcode", errcode))
		},
	}
	return nil
}

// Describe takes the host's timeout for token fetches and lists the
// catalog: every API but auth.getAccessToken is allowed by default.
func (wx *Weixin) Describe(s openapi.Settings) openapi.Info {
	if wx.client != nil {
		wx.client.TokenTimeout = s.Timeout
	}
	apis := make([]openapi.API, 0, len(weixin.Catalog))
	for _, a := range weixin.Catalog {
		apis = append(apis, openapi.API{Name: a.Name, Aliases: a.Aliases, OffByDefault: a.Kind == weixin.KindAccessToken})
	}
	return openapi.Info{Name: "weixin", APIs: apis, MaxBody: 2 << 20, Suggest: weixin.Suggest}
}

// Validate checks the configuration.
func (wx *Weixin) Validate() error {
	if wx.TokenMode != weixin.TokenStable && wx.TokenMode != weixin.TokenClassic {
		return fmt.Errorf("unicloud_openapi weixin: token_mode must be stable or classic, not %q", wx.TokenMode)
	}
	if len(wx.apps) == 0 && wx.H5AppID == "" && wx.MobileAppID == "" && wx.WebAppID == "" {
		return errors.New("unicloud_openapi weixin: app_id (or h5_app_id, mobile_app_id, web_app_id) is required")
	}
	if wx.AccessToken == "" {
		// An empty secret is most often an unset {env.*} or a missing
		// {file.*}: say so now rather than at the first call.
		for id, secret := range wx.apps {
			if secret == "" {
				return fmt.Errorf("unicloud_openapi weixin: the secret of app %s is empty (an unset placeholder?)", id)
			}
		}
		if wx.H5AppID != "" && wx.H5Secret == "" {
			return fmt.Errorf("unicloud_openapi weixin: h5_secret of %s is empty (an unset placeholder?)", wx.H5AppID)
		}
	}
	// The open-platform apps have no fixed-token mode: login always needs
	// their secret.
	if wx.MobileAppID != "" && wx.MobileSecret == "" {
		return fmt.Errorf("unicloud_openapi weixin: mobile_secret of %s is empty (an unset placeholder?)", wx.MobileAppID)
	}
	if wx.WebAppID != "" && wx.WebSecret == "" {
		return fmt.Errorf("unicloud_openapi weixin: web_secret of %s is empty (an unset placeholder?)", wx.WebAppID)
	}
	if u, err := url.Parse(wx.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("unicloud_openapi weixin: endpoint %q is not an http(s) URL", wx.Endpoint)
	}
	for _, p := range wx.AllowRaw {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("unicloud_openapi weixin: allow_raw prefix %q must start with /", p)
		}
	}
	return nil
}

// Cleanup gives back the shared state; it works after a half-failed
// Provision.
func (wx *Weixin) Cleanup() error {
	if wx.releaseStorage != nil {
		wx.releaseStorage()
		wx.releaseStorage = nil
	}
	// The old config's connections to the provider are not reused.
	if wx.client != nil {
		wx.client.CloseIdleConnections()
	}
	wx.shared = nil
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Weixin)(nil)
	_ caddy.Validator    = (*Weixin)(nil)
	_ caddy.CleanerUpper = (*Weixin)(nil)
	_ openapi.Provider   = (*Weixin)(nil)
)
