// Package alipay is the Alipay provider of unicloud_payment_notify: the
// guest module unicloud.notify.providers.alipay, which verifies Alipay's
// asynchronous trade and refund notifications with providers/alipay.
package alipay

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/handlers/notify/internal/guest"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// prefix starts this provider's configuration errors.
const prefix = "unicloud_payment_notify alipay"

func init() {
	caddy.RegisterModule(Alipay{})
}

// Alipay verifies the notifications of one Alipay app: the RSA2 (or RSA)
// signature with the Alipay public key, then the app_id. Secrets are best
// given as placeholders ({env.*}, {file.*}).
type Alipay struct {
	// AppID, when set, must equal the notification's app_id.
	AppID string `json:"app_id,omitempty"`
	// AlipayPublicKey is the Alipay public key (PEM or bare base64; not
	// the app's own key) that verifies notifications. Required.
	AlipayPublicKey string `json:"alipay_public_key,omitempty"`
	// CertFiles is certificate mode (公钥证书模式), in place of
	// AlipayPublicKey: alipay_cert (one or more; notifications are verified
	// with its key), alipay_root_cert (optional: the chain is checked when
	// given) and app_cert (accepted, unused, so one snippet fits every
	// Alipay block).
	alipayconf.CertFiles

	verifier *alipay.NotifyVerifier
}

// CaddyModule returns the Caddy module information.
func (Alipay) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.notify.providers.alipay",
		New: func() caddy.Module { return new(Alipay) },
	}
}

// Provision replaces placeholders and parses the key.
func (a *Alipay) Provision(caddy.Context) error {
	if err := handlers.ResolveOptions(prefix, handlers.Option{Name: "app_id", Value: &a.AppID},
		handlers.Option{Name: "alipay_public_key", Value: &a.AlipayPublicKey, Key: true}); err != nil {
		return err
	}
	if err := a.CertFiles.Resolve(prefix); err != nil {
		return err
	}
	if err := a.CheckMode(prefix, a.AlipayPublicKey, alipayconf.Verifier); err != nil {
		return err
	}
	a.verifier = &alipay.NotifyVerifier{AppID: a.AppID}
	if a.AlipayPublicKey != "" {
		pub, err := signing.ParseRSAPublicKey(a.AlipayPublicKey)
		if err != nil {
			return fmt.Errorf("%s: alipay_public_key: %w", prefix, err)
		}
		a.verifier.PublicKey = pub
	}
	certs, err := a.Load(prefix, a.AlipayPublicKey, alipayconf.Verifier, nil)
	if err != nil {
		return err
	}
	a.verifier.Certs = certs
	return nil
}

// Validate checks that the configuration can verify notifications.
func (a *Alipay) Validate() error {
	if err := a.CheckMode(prefix, a.AlipayPublicKey, alipayconf.Verifier); err != nil {
		return err
	}
	if a.AlipayPublicKey == "" && !a.Given() {
		return errors.New(prefix + ": alipay_public_key (or alipay_cert, in certificate mode) is required")
	}
	return nil
}

// Cleanup has nothing to give back: the provider holds no connection or
// shared state.
func (a *Alipay) Cleanup() error { return nil }

// Name is "alipay".
func (a *Alipay) Name() string { return "alipay" }

// Verify checks a notification's form body.
func (a *Alipay) Verify(_ context.Context, _ *http.Request, body []byte) (string, any, error) {
	nt, err := a.verifier.Verify(body)
	if err != nil {
		return "", nil, guest.Refuse(err)
	}
	return nt.Kind, nt.Event, nil
}

var (
	ackBody  = []byte("success")
	failBody = []byte("fail")
)

// Ack is "success", as Alipay expects.
func (a *Alipay) Ack(*http.Request, []byte) (int, string, []byte) {
	return http.StatusOK, "text/plain; charset=utf-8", ackBody
}

// Fail is "fail" (Alipay's form has no room for a reason).
func (a *Alipay) Fail(*http.Request, []byte, string) (string, []byte) {
	return "text/plain; charset=utf-8", failBody
}

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_payment_notify alipay {
//		app_id            <appid>
//		alipay_public_key <pem-or-base64>
//		alipay_cert       <pem>   # certificate mode, in place of alipay_public_key; repeatable
//		alipay_root_cert  <pem>   # optional: the chain of alipay_cert is checked
//		app_cert          <pem>   # accepted, unused
//	}
func (a *Alipay) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		if ok, err := a.UnmarshalSubdirective(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		var err error
		switch dir := d.Val(); dir {
		case "app_id":
			err = handlers.StringArg(d, &a.AppID)
		case "alipay_public_key":
			err = handlers.StringArg(d, &a.AlipayPublicKey)
		default:
			return d.Errf("unknown subdirective %q of unicloud_payment_notify alipay", dir)
		}
		if err != nil {
			return err
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
