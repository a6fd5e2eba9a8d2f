// Package alipay is the Alipay provider of unicloud_payment (module
// unicloud.payment.providers.alipay): gateway calls signed RSA2 with the
// application private key, answers verified with Alipay's public key, or in
// public-key-certificate mode (公钥证书模式) with Alipay's certificate.
package alipay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/handlers/payment/internal/conf"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/signing"
)

func init() {
	caddy.RegisterModule(Alipay{})
}

// prefix starts this provider's configuration errors.
const prefix = conf.Directive + " alipay"

// Alipay is an Alipay application.
//
// JSON: {"handler":"unicloud_payment","provider":{"name":"alipay","app_id":…,"private_key":…,"alipay_public_key":…}},
// or in certificate mode "app_cert", "alipay_cert" (a list) and
// "alipay_root_cert" in place of "alipay_public_key".
type Alipay struct {
	// AppID is the application's app_id.
	AppID string `json:"app_id,omitempty"`
	// PrivateKey is the application private key, PEM or bare base64.
	PrivateKey string `json:"private_key,omitempty"`
	// KeyType is the form of PrivateKey: PKCS8 (default) or PKCS1. Either
	// form is read whatever is named here; a mismatch is logged.
	KeyType string `json:"key_type,omitempty"`
	// AlipayPublicKey is Alipay's public key (not the application's), PEM
	// or bare base64: every answer is verified with it.
	AlipayPublicKey string `json:"alipay_public_key,omitempty"`
	// CertFiles is certificate mode: app_cert, alipay_cert (one or more)
	// and alipay_root_cert in place of AlipayPublicKey.
	alipayconf.CertFiles
	// NotifyURL is the default notifyUrl of getOrderInfo.
	NotifyURL string `json:"notify_url,omitempty"`
	// Endpoint is the gateway URL (default
	// https://openapi.alipay.com/gateway.do): point it at an emulator or
	// an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`
	// Sandbox uses Alipay's sandbox gateway
	// (https://openapi-sandbox.dl.alipaydev.com/gateway.do).
	Sandbox bool `json:"sandbox,omitempty"`
	// CACert is extra CA certificates (PEM text, or the path of a PEM
	// file) trusted for the endpoint besides the system roots.
	CACert string `json:"ca_cert,omitempty"`

	client *alipay.Client
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Alipay) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.payment.providers.alipay",
		New: func() caddy.Module { return new(Alipay) },
	}
}

// Provision resolves placeholders, applies defaults and parses the keys.
// It makes no network call.
func (a *Alipay) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := handlers.ResolveOptions(prefix,
		handlers.Option{Name: "app_id", Value: &a.AppID}, handlers.Option{Name: "private_key", Value: &a.PrivateKey, Key: true},
		handlers.Option{Name: "key_type", Value: &a.KeyType}, handlers.Option{Name: "alipay_public_key", Value: &a.AlipayPublicKey, Key: true},
		handlers.Option{Name: "notify_url", Value: &a.NotifyURL}, handlers.Option{Name: "endpoint", Value: &a.Endpoint},
		handlers.Option{Name: "ca_cert", Value: &a.CACert},
	); err != nil {
		return err
	}
	if err := a.CertFiles.Resolve(prefix); err != nil {
		return err
	}
	if err := a.CheckMode(prefix, a.AlipayPublicKey, alipayconf.Caller); err != nil {
		return err
	}
	a.Endpoint = strings.TrimRight(a.Endpoint, "/")
	if a.KeyType == "" {
		a.KeyType = "PKCS8"
	}
	transport, err := conf.Transport(a.CACert)
	if err != nil {
		return err
	}
	endpoint := a.Endpoint
	if endpoint == "" {
		endpoint = alipay.DefaultEndpoint
		if a.Sandbox {
			endpoint = alipay.SandboxEndpoint
		}
	}
	a.client = &alipay.Client{AppID: a.AppID, Endpoint: endpoint, HTTP: conf.Client(transport)}
	if a.PrivateKey != "" {
		key, err := handlers.ParseAppKey(a.PrivateKey, a.KeyType, a.logger)
		if err != nil {
			return fmt.Errorf("%s: private_key: %w", prefix, err)
		}
		a.client.PrivateKey = key
	}
	if a.AlipayPublicKey != "" {
		pub, err := signing.ParseRSAPublicKey(a.AlipayPublicKey)
		if err != nil {
			return fmt.Errorf("%s: alipay_public_key: %w", prefix, err)
		}
		a.client.AlipayPublicKey = pub
	}
	if a.client.PrivateKey != nil {
		certs, err := a.Load(prefix, a.AlipayPublicKey, alipayconf.Caller, a.client.PrivateKey)
		if err != nil {
			return err
		}
		a.client.Certs = certs
	}
	return nil
}

// Validate checks the configuration.
func (a *Alipay) Validate() error {
	if err := a.CheckMode(prefix, a.AlipayPublicKey, alipayconf.Caller); err != nil {
		return err
	}
	switch {
	case a.AppID == "" || a.PrivateKey == "" || (a.AlipayPublicKey == "" && !a.Given()):
		return errors.New(prefix + ": app_id, private_key and alipay_public_key (or app_cert, alipay_cert and alipay_root_cert) are required")
	}
	if a.KeyType != "PKCS8" && a.KeyType != "PKCS1" {
		return fmt.Errorf("%s: key_type must be PKCS8 or PKCS1, not %q", prefix, a.KeyType)
	}
	return conf.CheckURLs(prefix, a.NotifyURL, a.Endpoint)
}

// Cleanup closes the idle connections of the client.
func (a *Alipay) Cleanup() error {
	if a.client != nil && a.client.HTTP != nil {
		a.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// Name is the provider in logs and metrics.
func (*Alipay) Name() string { return "alipay" }

// PayProvider returns the payment API; timeout bounds each HTTP exchange.
func (a *Alipay) PayProvider(timeout time.Duration) pay.Provider {
	a.client.HTTP.Timeout = timeout
	return &alipay.Pay{Client: a.client, NotifyURL: a.NotifyURL}
}

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_payment alipay {
//		app_id            <appid>
//		private_key       <pem-or-base64>
//		key_type          PKCS8|PKCS1      # default PKCS8
//		alipay_public_key <pem-or-base64>
//		app_cert          <pem>            # certificate mode, in place of alipay_public_key
//		alipay_cert       <pem>            # repeatable: Alipay's current and next certificate
//		alipay_root_cert  <pem>
//		notify_url        <url>
//		endpoint          <gateway-url>    # default https://openapi.alipay.com/gateway.do
//		sandbox                            # https://openapi-sandbox.dl.alipaydev.com/gateway.do
//		ca_cert           <pem-or-path>
//	}
func (a *Alipay) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		dir := d.Val()
		fields := map[string]*string{
			"app_id": &a.AppID, "private_key": &a.PrivateKey, "key_type": &a.KeyType,
			"alipay_public_key": &a.AlipayPublicKey, "notify_url": &a.NotifyURL, "endpoint": &a.Endpoint, "ca_cert": &a.CACert,
		}
		if f, ok := fields[dir]; ok {
			if err := handlers.StringArg(d, f); err != nil {
				return err
			}
			if dir == "key_type" && *f != "PKCS8" && *f != "PKCS1" {
				return d.Errf("key_type must be PKCS8 or PKCS1, not %q", *f)
			}
			continue
		}
		if ok, err := a.UnmarshalSubdirective(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		switch dir {
		case "sandbox":
			if err := handlers.FlagArg(d); err != nil {
				return err
			}
			a.Sandbox = true
		case "version", "mch_id", "key", "pfx", "pfx_password", "sign_type",
			"serial_no", "api_v3_key", "platform_key", "platform_certs", "platform_root", "max_skew":
			return d.Errf("%s is not a subdirective of unicloud_payment alipay", dir)
		default:
			return d.Errf("unknown subdirective %q", dir)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Alipay)(nil)
	_ caddy.Validator       = (*Alipay)(nil)
	_ caddy.CleanerUpper    = (*Alipay)(nil)
	_ caddyfile.Unmarshaler = (*Alipay)(nil)
)
