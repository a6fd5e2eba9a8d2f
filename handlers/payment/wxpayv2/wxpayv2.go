// Package wxpayv2 is the WeChat Pay APIv2 provider of unicloud_payment
// (module unicloud.payment.providers.wxpay_v2): XML requests signed with
// the APIv2 key, the merchant certificate for refunds and fund flows.
package wxpayv2

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/payment/internal/conf"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

func init() {
	caddy.RegisterModule(WxpayV2{})
}

// prefix starts this provider's configuration errors.
const prefix = conf.Directive + " wxpay"

// WxpayV2 is a WeChat Pay merchant on APIv2.
//
// JSON: {"handler":"unicloud_payment","provider":{"name":"wxpay_v2","app_id":…,"client_app_ids":{"h5-weixin":…},"mch_id":…,"key":…}}.
type WxpayV2 struct {
	// AppID is the appid bound to the merchant: that of every client type
	// ClientAppIDs does not name.
	AppID string `json:"app_id,omitempty"`
	// ClientAppIDs maps a uni-app clientType (mp-weixin, h5-weixin,
	// app-plus, h5, native) to the appid its orders are placed with (in
	// the order and its orderInfo, and in the v2 calls that name
	// an order with that clientType), for a merchant that has bound
	// several appids (mini-program, official account, open-platform app)
	// to its mch_id. Caddyfile: client_app_id <clientType> <appid>.
	ClientAppIDs map[string]string `json:"client_app_ids,omitempty"`
	// MchID is the merchant id (商户号).
	MchID string `json:"mch_id,omitempty"`
	// Key is the APIv2 key (32 characters).
	Key string `json:"key,omitempty"`
	// Pfx is the path of the merchant certificate (apiclient_cert.p12),
	// presented for refund and downloadFundflow (mutual TLS).
	Pfx string `json:"pfx,omitempty"`
	// PfxPassword opens Pfx (default: mch_id, as WeChat Pay issues it).
	PfxPassword string `json:"pfx_password,omitempty"`
	// SignType is MD5 (default) or HMAC-SHA256.
	SignType string `json:"sign_type,omitempty"`
	// NotifyURL is the default notifyUrl of getOrderInfo.
	NotifyURL string `json:"notify_url,omitempty"`
	// Endpoint is the API host (default https://api.mch.weixin.qq.com):
	// point it at an emulator or an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`
	// Sandbox uses WeChat Pay's /sandboxnew paths with the sandbox sign
	// key (MD5 only).
	Sandbox bool `json:"sandbox,omitempty"`
	// CACert is extra CA certificates (PEM text, or the path of a PEM
	// file) trusted for the endpoint besides the system roots.
	CACert string `json:"ca_cert,omitempty"`

	client *wxpay.Client
}

// CaddyModule returns the Caddy module information.
func (WxpayV2) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.payment.providers.wxpay_v2",
		New: func() caddy.Module { return new(WxpayV2) },
	}
}

// Provision resolves placeholders, applies defaults and reads the merchant
// certificate. It makes no network call.
func (w *WxpayV2) Provision(caddy.Context) error {
	if err := handlers.ResolveOptions(prefix,
		handlers.Option{Name: "app_id", Value: &w.AppID}, handlers.Option{Name: "mch_id", Value: &w.MchID},
		handlers.Option{Name: "key", Value: &w.Key}, handlers.Option{Name: "pfx", Value: &w.Pfx},
		handlers.Option{Name: "pfx_password", Value: &w.PfxPassword}, handlers.Option{Name: "sign_type", Value: &w.SignType},
		handlers.Option{Name: "notify_url", Value: &w.NotifyURL}, handlers.Option{Name: "endpoint", Value: &w.Endpoint},
		handlers.Option{Name: "ca_cert", Value: &w.CACert},
	); err != nil {
		return err
	}
	if err := conf.ResolveClientAppIDs(prefix, w.ClientAppIDs); err != nil {
		return err
	}
	w.Endpoint = strings.TrimRight(w.Endpoint, "/")
	if w.SignType == "" {
		w.SignType = signing.SignTypeMD5
	}
	transport, err := conf.Transport(w.CACert)
	if err != nil {
		return err
	}
	endpoint := w.Endpoint
	if endpoint == "" {
		endpoint = wxpay.DefaultEndpoint
	}
	w.client = &wxpay.Client{
		AppID: w.AppID, MchID: w.MchID, Key: w.Key, SignType: w.SignType,
		Endpoint: endpoint, Sandbox: w.Sandbox, HTTP: conf.Client(transport),
	}
	if w.Pfx == "" {
		return nil
	}
	cert, err := loadPfx(w.Pfx, w.PfxPassword, w.MchID)
	if err != nil {
		return fmt.Errorf("%s: pfx: %w", prefix, err)
	}
	ct := transport.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if transport.TLSClientConfig != nil {
		cfg = transport.TLSClientConfig.Clone()
	}
	cfg.Certificates = []tls.Certificate{cert}
	ct.TLSClientConfig = cfg
	w.client.CertHTTP = conf.Client(ct)
	return nil
}

// loadPfx reads the merchant certificate and its key from a PKCS#12 file.
func loadPfx(path, password, mchID string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot read the file: %w", errors.Unwrap(err))
	}
	if password == "" {
		password = mchID
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		// The error names the problem (wrong password, bad format), never
		// the password.
		return tls.Certificate{}, err
	}
	tc := tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// Validate checks the configuration.
func (w *WxpayV2) Validate() error {
	if w.AppID == "" || w.MchID == "" || w.Key == "" {
		return errors.New(prefix + ": app_id, mch_id and key are required")
	}
	if err := handlers.CheckV2Key("key", w.Key); err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	if w.SignType != signing.SignTypeMD5 && w.SignType != signing.SignTypeHMACSHA256 {
		return fmt.Errorf("%s: sign_type must be MD5 or HMAC-SHA256, not %q", prefix, w.SignType)
	}
	if w.Sandbox && w.SignType != signing.SignTypeMD5 {
		return errors.New(prefix + ": the sandbox signs with MD5 only")
	}
	if w.PfxPassword != "" && w.Pfx == "" {
		return errors.New(prefix + ": pfx_password needs pfx (the merchant certificate it opens)")
	}
	if err := conf.CheckClientAppIDs(prefix, w.ClientAppIDs); err != nil {
		return err
	}
	return conf.CheckURLs(prefix, w.NotifyURL, w.Endpoint)
}

// Cleanup closes the idle connections of the clients (a config reload
// builds new ones).
func (w *WxpayV2) Cleanup() error {
	if w.client != nil {
		for _, c := range []*http.Client{w.client.HTTP, w.client.CertHTTP} {
			if c != nil {
				c.CloseIdleConnections()
			}
		}
	}
	return nil
}

// Name is the provider in logs and metrics.
func (*WxpayV2) Name() string { return "wxpay" }

// PayProvider returns the payment API; timeout bounds each HTTP exchange.
func (w *WxpayV2) PayProvider(timeout time.Duration) pay.Provider {
	w.client.HTTP.Timeout = timeout
	if w.client.CertHTTP != nil {
		w.client.CertHTTP.Timeout = timeout
	}
	return &wxpay.PayV2{Client: w.client, NotifyURL: w.NotifyURL, AppIDs: wxpay.AppIDs(w.ClientAppIDs)}
}

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_payment wxpay {
//		app_id       <appid>
//		client_app_id <clientType> <appid>   # repeatable: mp-weixin, h5-weixin, app-plus, h5, native
//		mch_id       <mchid>
//		key          <APIv2 key>
//		pfx          <path of apiclient_cert.p12>
//		pfx_password <password>            # default: mch_id
//		sign_type    MD5|HMAC-SHA256       # default MD5
//		notify_url   <url>
//		endpoint     <url>                 # default https://api.mch.weixin.qq.com
//		sandbox
//		ca_cert      <pem-or-path>
//	}
func (w *WxpayV2) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		dir := d.Val()
		fields := map[string]*string{
			"app_id": &w.AppID, "mch_id": &w.MchID, "key": &w.Key, "pfx": &w.Pfx, "pfx_password": &w.PfxPassword,
			"sign_type": &w.SignType, "notify_url": &w.NotifyURL, "endpoint": &w.Endpoint, "ca_cert": &w.CACert,
		}
		if f, ok := fields[dir]; ok {
			if err := handlers.StringArg(d, f); err != nil {
				return err
			}
			if dir == "sign_type" && *f != "MD5" && *f != "HMAC-SHA256" {
				return d.Errf("sign_type must be MD5 or HMAC-SHA256, not %q", *f)
			}
			continue
		}
		switch dir {
		case "client_app_id":
			if err := conf.ClientAppIDArg(d, &w.ClientAppIDs); err != nil {
				return err
			}
		case "sandbox":
			if err := handlers.FlagArg(d); err != nil {
				return err
			}
			w.Sandbox = true
		case "serial_no", "api_v3_key", "platform_key", "platform_certs", "platform_root", "max_skew", "private_key":
			return d.Errf("%s is for WeChat Pay APIv3: add `version v3` to unicloud_payment wxpay", dir)
		case "key_type", "alipay_public_key":
			return d.Errf("%s is not a subdirective of unicloud_payment wxpay", dir)
		default:
			return d.Errf("unknown subdirective %q", dir)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*WxpayV2)(nil)
	_ caddy.Validator       = (*WxpayV2)(nil)
	_ caddy.CleanerUpper    = (*WxpayV2)(nil)
	_ caddyfile.Unmarshaler = (*WxpayV2)(nil)
)
