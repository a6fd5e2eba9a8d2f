// Package wxpayvirtual is the WeChat mini-program virtual payment provider of unicloud_payment (module
// unicloud.payment.providers.wxpay_virtual): wx.requestVirtualPayment's orderInfo signed locally with the session
// key kept from code2Session, and the /xpay/* server calls signed with pay_sig (and the user-state signature).
package wxpayvirtual

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/payment/internal/conf"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
	"github.com/caddy-unicloud/unicloud/providers/xpay"
)

func init() {
	caddy.RegisterModule(WxpayVirtual{})
}

// prefix starts this provider's configuration errors.
const prefix = conf.Directive + " wxpay_virtual"

// The envs of the env subdirective.
const (
	EnvProduction = "production"
	EnvSandbox    = "sandbox"
)

// WxpayVirtual is a mini-program's virtual payment (虚拟支付).
//
// JSON: {"handler":"unicloud_payment","provider":{"name":"wxpay_virtual","app_id":…,"secret":…,"app_key":…,
// "offer_id":…}}.
type WxpayVirtual struct {
	// AppID is the mini-program's appid.
	AppID string `json:"app_id,omitempty"`
	// Secret is its AppSecret, for the access token (the token authority shared with unicloud_openapi weixin).
	Secret string `json:"secret,omitempty"`
	// AppKey is the production AppKey (虚拟支付 → 基础配置); required with env production.
	AppKey string `json:"app_key,omitempty"`
	// SandboxAppKey is the sandbox AppKey; required with env sandbox.
	SandboxAppKey string `json:"sandbox_app_key,omitempty"`
	// OfferID is the 支付应用 OfferID.
	OfferID string `json:"offer_id,omitempty"`
	// Env is production (env 0, default) or sandbox (env 1): every request and signData is made in it, signed with
	// its AppKey.
	Env string `json:"env,omitempty"`
	// Endpoint is the API host (default https://api.weixin.qq.com): an emulator or an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`

	logger  *zap.Logger
	state   *handlers.WeixinState
	release func()
	wx      *weixin.Client
	client  *xpay.Client
}

// CaddyModule returns the Caddy module information.
func (WxpayVirtual) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.payment.providers.wxpay_virtual",
		New: func() caddy.Module { return new(WxpayVirtual) },
	}
}

// Provision resolves placeholders, applies defaults and takes the shared WeChat state (tokens, session keys). It
// makes no network call.
func (w *WxpayVirtual) Provision(ctx caddy.Context) error {
	w.logger = ctx.Logger()
	if err := handlers.ResolveOptions(prefix,
		handlers.Option{Name: "app_id", Value: &w.AppID}, handlers.Option{Name: "secret", Value: &w.Secret},
		handlers.Option{Name: "app_key", Value: &w.AppKey}, handlers.Option{Name: "sandbox_app_key", Value: &w.SandboxAppKey},
		handlers.Option{Name: "offer_id", Value: &w.OfferID}, handlers.Option{Name: "endpoint", Value: &w.Endpoint},
	); err != nil {
		return err
	}
	if w.Env == "" {
		w.Env = EnvProduction
	}
	w.Endpoint = strings.TrimRight(w.Endpoint, "/")
	if w.Endpoint == "" {
		w.Endpoint = xpay.DefaultEndpoint
	}
	state, release, err := handlers.AcquireWeixinState(ctx, w.logger)
	if err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	w.state, w.release = state, release
	transport, err := conf.Transport("")
	if err != nil {
		return err
	}
	env := xpay.EnvProduction
	if w.Env == EnvSandbox {
		env = xpay.EnvSandbox
	}
	logger := w.logger
	w.wx = &weixin.Client{
		Endpoint: w.Endpoint,
		// Straight to the transport: no redirect is ever followed.
		Transport: transport,
		Tokens:    state.Tokens,
		OnTokenRejected: func(appID string, errcode int64) {
			logger.Info("provider rejected the access token; refreshing once",
				zap.String("app_id", appID), zap.Int64("errcode", errcode))
		},
	}
	w.client = &xpay.Client{
		Config:   xpay.Config{AppID: w.AppID, OfferID: w.OfferID, Env: env, AppKey: w.AppKey, SandboxAppKey: w.SandboxAppKey},
		Caller:   &caller{wx: w.wx, app: weixin.App{ID: w.AppID, Secret: w.Secret}},
		Sessions: state.Sessions,
	}
	return nil
}

// Validate checks the configuration.
func (w *WxpayVirtual) Validate() error {
	if w.AppID == "" || w.Secret == "" || w.OfferID == "" {
		return errors.New(prefix + ": app_id, secret and offer_id are required")
	}
	if w.Env != EnvProduction && w.Env != EnvSandbox {
		return fmt.Errorf("%s: env must be production or sandbox, not %q", prefix, w.Env)
	}
	if w.client != nil {
		if err := w.client.Config.Validate(); err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
	}
	return conf.CheckURLs(prefix, "", w.Endpoint)
}

// Cleanup gives back the shared WeChat state and closes idle connections; it works after a half-failed Provision.
func (w *WxpayVirtual) Cleanup() error {
	if w.wx != nil {
		w.wx.CloseIdleConnections()
	}
	if w.release != nil {
		w.release()
		w.release = nil
	}
	return nil
}

// Name is the provider in logs and metrics.
func (*WxpayVirtual) Name() string { return "wxpay_virtual" }

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_payment wxpay_virtual {
//		app_id          <appid>
//		secret          <AppSecret>
//		app_key         <production AppKey>
//		sandbox_app_key <sandbox AppKey>
//		offer_id        <OfferID>
//		env             production|sandbox   # default production
//		endpoint        <url>                # default https://api.weixin.qq.com
//	}
func (w *WxpayVirtual) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		dir := d.Val()
		fields := map[string]*string{
			"app_id": &w.AppID, "secret": &w.Secret, "app_key": &w.AppKey, "sandbox_app_key": &w.SandboxAppKey,
			"offer_id": &w.OfferID, "env": &w.Env, "endpoint": &w.Endpoint,
		}
		f, ok := fields[dir]
		if !ok {
			return d.Errf("unknown subdirective %q of unicloud_payment wxpay_virtual", dir)
		}
		if err := handlers.StringArg(d, f); err != nil {
			return err
		}
		if dir == "env" && *f != EnvProduction && *f != EnvSandbox {
			return d.Errf("env must be production or sandbox, not %q", *f)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*WxpayVirtual)(nil)
	_ caddy.Validator       = (*WxpayVirtual)(nil)
	_ caddy.CleanerUpper    = (*WxpayVirtual)(nil)
	_ caddyfile.Unmarshaler = (*WxpayVirtual)(nil)
	_ xpay.Caller           = (*caller)(nil)
)
