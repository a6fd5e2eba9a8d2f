// Package wxpayv3 is the WeChat Pay APIv3 provider of unicloud_payment
// (module unicloud.payment.providers.wxpay_v3): JSON requests signed with
// the merchant API private key, answers verified with the platform keys.
package wxpayv3

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/payment/internal/conf"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

func init() {
	caddy.RegisterModule(WxpayV3{})
}

// Prefixes of this provider's configuration errors.
const (
	prefix  = conf.Directive + " wxpay"
	vprefix = conf.Directive + " wxpay v3: "
)

// WxpayV3 is a WeChat Pay merchant on APIv3.
//
// JSON: {"handler":"unicloud_payment","provider":{"name":"wxpay_v3","app_id":…,"client_app_ids":{"h5-weixin":…},"mch_id":…,"private_key":…,"serial_no":…,"platform_keys":[…]}}.
type WxpayV3 struct {
	// AppID is the appid bound to the merchant: that of every client type
	// ClientAppIDs does not name.
	AppID string `json:"app_id,omitempty"`
	// ClientAppIDs maps a uni-app clientType (mp-weixin, h5-weixin,
	// app-plus, h5, native) to the appid its orders are placed with (in
	// the order and its orderInfo; the other APIv3 calls send no appid), for a merchant that has bound
	// several appids (mini-program, official account, open-platform app)
	// to its mch_id. Caddyfile: client_app_id <clientType> <appid>.
	ClientAppIDs map[string]string `json:"client_app_ids,omitempty"`
	// MchID is the merchant id (商户号).
	MchID string `json:"mch_id,omitempty"`
	// PrivateKey is the merchant API private key (apiclient_key.pem), PEM
	// or bare base64.
	PrivateKey string `json:"private_key,omitempty"`
	// SerialNo is the serial number of the merchant API certificate, sent
	// in every request's Authorization.
	SerialNo string `json:"serial_no,omitempty"`
	// APIv3Key is the APIv3 key (32 bytes): it decrypts the platform
	// certificates downloaded with platform_certs auto.
	APIv3Key string `json:"api_v3_key,omitempty"`
	// PlatformKeys are platform keys by the Wechatpay-Serial that names
	// them: a public key with its PUB_KEY_ID_…, or a platform certificate
	// with its serial.
	PlatformKeys []PlatformKey `json:"platform_keys,omitempty"`
	// PlatformCerts "auto" downloads the platform certificates
	// (/v3/certificates) at first use and every 12 hours, shared by the
	// merchant's handlers and through Caddy's storage by every instance.
	PlatformCerts string `json:"platform_certs,omitempty"`
	// PlatformRoot is a CA certificate (PEM text or the path of a PEM
	// file) every downloaded platform certificate must chain to.
	PlatformRoot string `json:"platform_root,omitempty"`
	// MaxSkew is how far an answer's Wechatpay-Timestamp may be from now,
	// either way (default 5m).
	MaxSkew caddy.Duration `json:"max_skew,omitempty"`
	// NotifyURL is the default notifyUrl of getOrderInfo.
	NotifyURL string `json:"notify_url,omitempty"`
	// Endpoint is the API host (default https://api.mch.weixin.qq.com):
	// point it at an emulator or an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`
	// CACert is extra CA certificates (PEM text, or the path of a PEM
	// file) trusted for the endpoint besides the system roots.
	CACert string `json:"ca_cert,omitempty"`

	client *wxpay.ClientV3
	// release gives back the platform key store.
	release func()
}

// PlatformKey is a platform public key or certificate (PEM or bare
// base64) and the serial (or PUB_KEY_ID_…) that names it.
type PlatformKey struct {
	Serial string `json:"serial,omitempty"`
	Key    string `json:"key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (WxpayV3) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.payment.providers.wxpay_v3",
		New: func() caddy.Module { return new(WxpayV3) },
	}
}

// Provision resolves placeholders, parses the merchant API private key and
// takes the merchant's platform key store (configured keys, and downloads
// with platform_certs auto). It makes no network call.
func (w *WxpayV3) Provision(ctx caddy.Context) error {
	opts := []handlers.Option{
		{Name: "app_id", Value: &w.AppID}, {Name: "mch_id", Value: &w.MchID},
		{Name: "private_key", Value: &w.PrivateKey, Key: true}, {Name: "notify_url", Value: &w.NotifyURL},
		{Name: "endpoint", Value: &w.Endpoint}, {Name: "ca_cert", Value: &w.CACert},
		{Name: "serial_no", Value: &w.SerialNo}, {Name: "api_v3_key", Value: &w.APIv3Key},
		{Name: "platform_certs", Value: &w.PlatformCerts}, {Name: "platform_root", Value: &w.PlatformRoot},
	}
	for i := range w.PlatformKeys {
		opts = append(opts, handlers.Option{Name: "platform_key", Value: &w.PlatformKeys[i].Serial},
			handlers.Option{Name: "platform_key " + w.PlatformKeys[i].Serial, Value: &w.PlatformKeys[i].Key, Key: true})
	}
	if err := handlers.ResolveOptions(prefix, opts...); err != nil {
		return err
	}
	if err := conf.ResolveClientAppIDs(prefix, w.ClientAppIDs); err != nil {
		return err
	}
	w.Endpoint = strings.TrimRight(w.Endpoint, "/")
	if w.MaxSkew <= 0 {
		w.MaxSkew = caddy.Duration(wxpay.DefaultV3MaxSkew)
	}
	transport, err := conf.Transport(w.CACert)
	if err != nil {
		return err
	}
	hc := conf.Client(transport)
	endpoint := w.Endpoint
	if endpoint == "" {
		endpoint = wxpay.DefaultEndpoint
	}
	w.client = &wxpay.ClientV3{
		AppID: w.AppID, MchID: w.MchID, SerialNo: w.SerialNo, Endpoint: endpoint,
		MaxSkew: time.Duration(w.MaxSkew), HTTP: hc,
	}
	if w.PrivateKey == "" || w.MchID == "" {
		return nil // Validate names the problem
	}
	key, err := signing.ParseRSAPrivateKey(w.PrivateKey)
	if err != nil {
		return fmt.Errorf(vprefix+"private_key: %w", err)
	}
	w.client.PrivateKey = key
	if len(w.PlatformKeys) == 0 && w.PlatformCerts == "" {
		return nil // Validate: no way to verify answers
	}
	keys := make(map[string]string, len(w.PlatformKeys))
	for _, pk := range w.PlatformKeys {
		if pk.Serial == "" || pk.Key == "" {
			return errors.New(vprefix + "platform_key needs a serial and a key")
		}
		if _, dup := keys[pk.Serial]; dup {
			return fmt.Errorf(vprefix+"platform_key %s is given twice", pk.Serial)
		}
		keys[pk.Serial] = pk.Key
	}
	if w.PlatformCerts != "" && w.PlatformCerts != "auto" {
		return nil // Validate names the problem
	}
	store, release, err := handlers.AcquirePlatformStore(ctx, handlers.PlatformStoreConfig{
		Endpoint: endpoint, MchID: w.MchID, Keys: keys, Auto: w.PlatformCerts == "auto",
		SerialNo: w.SerialNo, PrivateKey: key, APIv3Key: w.APIv3Key, Root: w.PlatformRoot,
		MaxSkew: time.Duration(w.MaxSkew), HTTP: hc,
	})
	if err != nil {
		return fmt.Errorf(vprefix+"%w", err)
	}
	w.release = release
	w.client.PlatformKeys = store
	return nil
}

// Validate checks the configuration.
func (w *WxpayV3) Validate() error {
	if w.AppID == "" || w.MchID == "" || w.PrivateKey == "" || w.SerialNo == "" {
		return errors.New(vprefix + "app_id, mch_id, private_key and serial_no are required")
	}
	if !isSerialNo(w.SerialNo) {
		return errors.New(vprefix + "serial_no must be the merchant API certificate's serial number in hex (as the merchant platform shows it)")
	}
	if w.PlatformCerts != "" && w.PlatformCerts != "auto" {
		return fmt.Errorf(vprefix+"platform_certs must be auto, not %q", w.PlatformCerts)
	}
	if len(w.PlatformKeys) == 0 && w.PlatformCerts == "" {
		return errors.New(vprefix + "answers cannot be verified: configure platform_key or platform_certs auto")
	}
	if w.PlatformCerts == "auto" && w.APIv3Key == "" {
		return errors.New(vprefix + "platform_certs auto needs api_v3_key (it decrypts the downloaded certificates)")
	}
	if w.APIv3Key != "" {
		if err := handlers.CheckAPIv3Key("api_v3_key", w.APIv3Key); err != nil {
			return errors.New(vprefix + err.Error())
		}
	}
	if w.PlatformRoot != "" && w.PlatformCerts != "auto" {
		return errors.New(vprefix + "platform_root needs platform_certs auto")
	}
	if w.MaxSkew < 0 {
		return errors.New(vprefix + "max_skew must be positive")
	}
	if w.client == nil || w.client.PrivateKey == nil || w.client.PlatformKeys == nil {
		return errors.New(vprefix + "not provisioned")
	}
	if err := conf.CheckClientAppIDs(prefix, w.ClientAppIDs); err != nil {
		return err
	}
	return conf.CheckURLs(prefix, w.NotifyURL, w.Endpoint)
}

// isSerialNo reports whether s has the shape of a certificate serial
// number in hex.
func isSerialNo(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// Cleanup gives back the platform key store and closes idle connections;
// it works after a half-failed Provision.
func (w *WxpayV3) Cleanup() error {
	if w.release != nil {
		w.release()
		w.release = nil
	}
	if w.client != nil && w.client.HTTP != nil {
		w.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// Name is the provider in logs and metrics.
func (*WxpayV3) Name() string { return "wxpay" }

// PayProvider returns the payment API; timeout bounds each HTTP exchange.
func (w *WxpayV3) PayProvider(timeout time.Duration) pay.Provider {
	w.client.HTTP.Timeout = timeout
	return &wxpay.PayV3{Client: w.client, NotifyURL: w.NotifyURL, AppIDs: wxpay.AppIDs(w.ClientAppIDs)}
}

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_payment wxpay {
//		version        v3                  # read by the host
//		app_id         <appid>
//		client_app_id  <clientType> <appid>   # repeatable: mp-weixin, h5-weixin, app-plus, h5, native
//		mch_id         <mchid>
//		private_key    <pem-or-base64>     # merchant API private key (apiclient_key.pem)
//		serial_no      <serial>            # merchant API certificate serial
//		api_v3_key     <APIv3 key>         # needed by platform_certs auto
//		platform_key   <serial-or-PUB_KEY_ID> <pem>   # repeatable
//		platform_certs auto                # download /v3/certificates
//		platform_root  <pem-or-path>       # with platform_certs auto
//		max_skew       <duration>          # default 5m
//		notify_url     <url>
//		endpoint       <url>
//		ca_cert        <pem-or-path>
//	}
func (w *WxpayV3) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		dir := d.Val()
		fields := map[string]*string{
			"app_id": &w.AppID, "mch_id": &w.MchID, "private_key": &w.PrivateKey, "serial_no": &w.SerialNo,
			"api_v3_key": &w.APIv3Key, "platform_certs": &w.PlatformCerts, "platform_root": &w.PlatformRoot,
			"notify_url": &w.NotifyURL, "endpoint": &w.Endpoint, "ca_cert": &w.CACert,
		}
		if f, ok := fields[dir]; ok {
			if err := handlers.StringArg(d, f); err != nil {
				return err
			}
			if dir == "platform_certs" && *f != "auto" {
				return d.Errf("platform_certs must be auto, not %q", *f)
			}
			continue
		}
		switch dir {
		case "platform_key":
			serial, key, err := handlers.PlatformKeyArgs(d)
			if err != nil {
				return err
			}
			w.PlatformKeys = append(w.PlatformKeys, PlatformKey{Serial: serial, Key: key})
		case "client_app_id":
			if err := conf.ClientAppIDArg(d, &w.ClientAppIDs); err != nil {
				return err
			}
		case "max_skew":
			v, err := handlers.DurationArg(d)
			if err != nil {
				return err
			}
			w.MaxSkew = v
		case "key", "pfx", "pfx_password", "sign_type", "sandbox":
			return d.Errf("%s is not an APIv3 option of unicloud_payment wxpay (it is for version v2)", dir)
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
	_ caddy.Provisioner     = (*WxpayV3)(nil)
	_ caddy.Validator       = (*WxpayV3)(nil)
	_ caddy.CleanerUpper    = (*WxpayV3)(nil)
	_ caddyfile.Unmarshaler = (*WxpayV3)(nil)
)
