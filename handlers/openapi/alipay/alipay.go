// Package alipay is the Alipay provider of unicloud_openapi: the guest
// module unicloud.openapi.providers.alipay, which serves auth.code2Session
// (alipay.system.oauth.token; the auth token kept by the gateway),
// auth.getUserInfo (alipay.user.info.share with the kept token) and
// decrypt.getPhoneNumber (local: sign verified, content decrypted with
// aes_key). Calls are signed RSA2, answers verified with Alipay's public
// key or, in certificate mode, its certificate.
package alipay

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/handlers/openapi"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
	"github.com/caddy-unicloud/unicloud/signing"
)

// prefix starts this provider's configuration errors.
const prefix = "unicloud_openapi alipay"

func init() {
	caddy.RegisterModule(Alipay{})
}

// Alipay calls Alipay's open platform for one application. Keys are best
// given as placeholders ({file.*}, {env.*}).
type Alipay struct {
	// AppID is the application's app_id.
	AppID string `json:"app_id,omitempty"`
	// PrivateKey is the application private key (PEM or bare base64).
	PrivateKey string `json:"private_key,omitempty"`
	// KeyType is PKCS8 (default) or PKCS1.
	KeyType string `json:"key_type,omitempty"`
	// AlipayPublicKey verifies Alipay's answers (PEM or bare base64): not
	// the application's own public key.
	AlipayPublicKey string `json:"alipay_public_key,omitempty"`
	// CertFiles is certificate mode (公钥证书模式): app_cert, alipay_cert
	// (one or more) and alipay_root_cert in place of AlipayPublicKey.
	alipayconf.CertFiles
	// Endpoint is the gateway URL (default Alipay's, or its sandbox's).
	Endpoint string `json:"endpoint,omitempty"`
	// Sandbox uses Alipay's sandbox gateway.
	Sandbox bool `json:"sandbox,omitempty"`
	// AESKey is the app's content-encryption key (接口内容加密方式), base64
	// of 16 bytes: decrypt.getPhoneNumber decrypts with it.
	AESKey string `json:"aes_key,omitempty"`
	// ExposeAuthToken answers code2Session with accessToken and
	// refreshToken (default: the gateway keeps them, and auth.getUserInfo
	// takes an openid).
	ExposeAuthToken bool `json:"expose_auth_token,omitempty"`

	client        *alipay.Client
	aesKey        []byte
	tokens        *weixin.UserTokens
	releaseTokens func()
	logger        *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Alipay) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.openapi.providers.alipay",
		New: func() caddy.Module { return new(Alipay) },
	}
}

// Provision resolves placeholders and reads the keys. It makes no network
// call.
func (a *Alipay) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := handlers.ResolveOptions(prefix, handlers.Option{Name: "app_id", Value: &a.AppID},
		handlers.Option{Name: "private_key", Value: &a.PrivateKey, Key: true},
		handlers.Option{Name: "key_type", Value: &a.KeyType},
		handlers.Option{Name: "alipay_public_key", Value: &a.AlipayPublicKey, Key: true},
		handlers.Option{Name: "endpoint", Value: &a.Endpoint},
		handlers.Option{Name: "aes_key", Value: &a.AESKey}); err != nil {
		return err
	}
	if err := a.CertFiles.Resolve(prefix); err != nil {
		return err
	}
	if err := a.CheckMode(prefix, a.AlipayPublicKey, alipayconf.Caller); err != nil {
		return err
	}
	if a.KeyType == "" {
		a.KeyType = "PKCS8"
	}
	a.Endpoint = strings.TrimRight(a.Endpoint, "/")
	if a.Endpoint == "" {
		a.Endpoint = alipay.DefaultEndpoint
		if a.Sandbox {
			a.Endpoint = alipay.SandboxEndpoint
		}
	}
	c := &alipay.Client{
		AppID:    a.AppID,
		Endpoint: a.Endpoint,
		// Each call's context carries the host's timeout.
		HTTP: &http.Client{Transport: handlers.NewTransport(), CheckRedirect: handlers.NoRedirects},
	}
	if a.PrivateKey != "" {
		key, err := handlers.ParseAppKey(a.PrivateKey, a.KeyType, a.logger)
		if err != nil {
			return fmt.Errorf("%s: private_key: %w", prefix, err)
		}
		c.PrivateKey = key
	}
	if a.AlipayPublicKey != "" {
		pub, err := signing.ParseRSAPublicKey(a.AlipayPublicKey)
		if err != nil {
			return fmt.Errorf("%s: alipay_public_key: %w", prefix, err)
		}
		c.AlipayPublicKey = pub
	}
	if c.PrivateKey != nil {
		certs, err := a.Load(prefix, a.AlipayPublicKey, alipayconf.Caller, c.PrivateKey)
		if err != nil {
			return err
		}
		c.Certs = certs
	}
	if a.AESKey != "" {
		key, err := alipay.ParseAESKey(a.AESKey)
		if err != nil {
			return fmt.Errorf("%s: aes_key: %w", prefix, err)
		}
		a.aesKey = key
	}
	a.client = c
	tokens, release, err := acquireTokens(ctx, a.logger)
	if err != nil {
		return err
	}
	a.tokens, a.releaseTokens = tokens, release
	return nil
}

// Describe lists the APIs: auth.code2Session (alias auth.getOpenid),
// auth.getUserInfo and decrypt.getPhoneNumber.
func (a *Alipay) Describe(openapi.Settings) openapi.Info {
	return openapi.Info{
		Name: "alipay",
		APIs: []openapi.API{
			{Name: apiCode2Session, Aliases: []string{"auth.getOpenid"}},
			{Name: apiGetUserInfo},
			{Name: apiGetPhoneNumber},
		},
		MaxBody: 64 << 10,
	}
}

// Validate checks the configuration.
func (a *Alipay) Validate() error {
	if err := a.CheckMode(prefix, a.AlipayPublicKey, alipayconf.Caller); err != nil {
		return err
	}
	if a.AppID == "" || a.PrivateKey == "" || (a.AlipayPublicKey == "" && !a.Given()) {
		return errors.New(prefix + ": app_id, private_key and alipay_public_key (or app_cert, alipay_cert and alipay_root_cert) are required")
	}
	if a.KeyType != "PKCS8" && a.KeyType != "PKCS1" {
		return fmt.Errorf("%s: key_type must be PKCS8 or PKCS1, not %q", prefix, a.KeyType)
	}
	if err := handlers.CheckHTTPURL("endpoint", a.Endpoint); err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return nil
}

// Cleanup gives back the auth-token store and closes the idle connections
// to the gateway.
func (a *Alipay) Cleanup() error {
	if a.releaseTokens != nil {
		a.releaseTokens()
		a.releaseTokens = nil
	}
	if a.client != nil && a.client.HTTP != nil {
		a.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_openapi alipay {
//		app_id            <appid>
//		private_key       <pem-or-base64>
//		key_type          PKCS8|PKCS1
//		alipay_public_key <pem-or-base64>
//		app_cert          <pem>            # certificate mode, in place of alipay_public_key
//		alipay_cert       <pem>            # repeatable: Alipay's current and next certificate
//		alipay_root_cert  <pem>
//		endpoint          <gateway-url>
//		sandbox
//		aes_key           <base64>         # content-encryption key: decrypt.getPhoneNumber
//		expose_auth_token                  # code2Session answers accessToken / refreshToken
//	}
//
// (allow, timeout and max_body are the host's).
func (a *Alipay) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		if ok, err := a.UnmarshalSubdirective(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		switch dir := d.Val(); dir {
		case "app_id", "private_key", "key_type", "alipay_public_key", "endpoint", "aes_key":
			dst := map[string]*string{"app_id": &a.AppID, "private_key": &a.PrivateKey, "key_type": &a.KeyType,
				"alipay_public_key": &a.AlipayPublicKey, "endpoint": &a.Endpoint, "aes_key": &a.AESKey}[dir]
			if err := handlers.StringArg(d, dst); err != nil {
				return err
			}
		case "sandbox":
			if err := handlers.FlagArg(d); err != nil {
				return err
			}
			a.Sandbox = true
		case "expose_auth_token":
			if err := handlers.FlagArg(d); err != nil {
				return err
			}
			a.ExposeAuthToken = true
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
	_ openapi.Provider      = (*Alipay)(nil)
)
