// Package wxpay is the WeChat Pay provider of unicloud_payment_notify: the
// guest module unicloud.notify.providers.wxpay, which verifies v2 and APIv3
// payment and refund notifications with providers/wxpay.
package wxpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/notify/internal/guest"
	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

func init() {
	caddy.RegisterModule(Wxpay{})
}

// Defaults.
const (
	DefaultMaxSkew = wxpay.DefaultNotifyMaxSkew
	// DefaultTimeout bounds the refund query that confirms a v2 refund
	// notification.
	DefaultTimeout = 10 * time.Second
)

// Wxpay verifies the notifications of one WeChat Pay merchant: v2
// (signature with key; refunds decrypted with key and confirmed with the
// refund query) and APIv3 (Wechatpay-Signature with a platform key,
// resource decrypted with api_v3_key, Wechatpay-Timestamp within
// max_skew). Secrets are best given as placeholders ({env.*}, {file.*}).
type Wxpay struct {
	// AppID, when set, must equal the notification's appid (APIv3 refund
	// notifications carry none).
	AppID string `json:"app_id,omitempty"`
	// MchID, when set, must equal the notification's mch_id / mchid. With
	// api_v3_key, the platform keys of that merchant's unicloud_payment
	// handlers (configured, or downloaded with platform_certs auto) verify
	// APIv3 notifications too; an unknown serial makes them refresh once
	// (rate-limited) before the notification is refused.
	MchID string `json:"mch_id,omitempty"`
	// Key is the APIv2 key: v2 signatures (MD5, HMAC-SHA256), the
	// decryption of refund req_info and the refund query's signature.
	Key string `json:"key,omitempty"`
	// APIv3Key is the APIv3 key (32 bytes), which decrypts the resource of
	// APIv3 notifications.
	APIv3Key string `json:"api_v3_key,omitempty"`
	// PlatformKeys are platform keys that verify APIv3 notifications, by
	// the Wechatpay-Serial that names them. A certificate must carry its
	// serial and is used only within its validity dates.
	PlatformKeys []PlatformKey `json:"platform_keys,omitempty"`
	// MaxSkew is how far an APIv3 notification's Wechatpay-Timestamp may
	// be from now, either way (default 5m).
	MaxSkew caddy.Duration `json:"max_skew,omitempty"`
	// Endpoint is the WeChat Pay API host (default
	// https://api.mch.weixin.qq.com) where v2 refund notifications are
	// confirmed with the refund query (/pay/refundquery): their req_info
	// is encrypted but not signed.
	Endpoint string `json:"endpoint,omitempty"`
	// Timeout bounds that refund query (default 10s). A query that fails
	// or times out is answered 500, so WeChat Pay sends the notification
	// again.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	verifier *wxpay.NotifyVerifier
	http     *http.Client // the refund query's
	logger   *zap.Logger
}

// PlatformKey is one WeChat Pay platform key.
type PlatformKey struct {
	// Serial is the platform certificate serial number, or the public key
	// ID ("PUB_KEY_ID_…"), as sent in Wechatpay-Serial.
	Serial string `json:"serial,omitempty"`
	// Key is the public key or the platform certificate, PEM or bare
	// base64.
	Key string `json:"key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Wxpay) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.notify.providers.wxpay",
		New: func() caddy.Module { return new(Wxpay) },
	}
}

// Provision replaces placeholders, applies defaults and parses the keys.
// It makes no network call.
func (w *Wxpay) Provision(ctx caddy.Context) error {
	if w.logger == nil {
		w.logger = ctx.Logger()
	}
	opts := []handlers.Option{{Name: "app_id", Value: &w.AppID}, {Name: "mch_id", Value: &w.MchID},
		{Name: "key", Value: &w.Key}, {Name: "api_v3_key", Value: &w.APIv3Key}, {Name: "endpoint", Value: &w.Endpoint}}
	for i := range w.PlatformKeys {
		opts = append(opts, handlers.Option{Name: "platform_key", Value: &w.PlatformKeys[i].Serial},
			handlers.Option{Name: "platform_key " + w.PlatformKeys[i].Serial, Value: &w.PlatformKeys[i].Key, Key: true})
	}
	if err := handlers.ResolveOptions("unicloud_payment_notify", opts...); err != nil {
		return err
	}
	if w.MaxSkew == 0 {
		w.MaxSkew = caddy.Duration(DefaultMaxSkew)
	}
	if w.Endpoint == "" {
		w.Endpoint = wxpay.DefaultEndpoint
	}
	w.Endpoint = strings.TrimRight(w.Endpoint, "/")
	if w.Timeout == 0 {
		w.Timeout = caddy.Duration(DefaultTimeout)
	}

	// The same parsing as unicloud_payment's platform_key: a certificate
	// must carry the configured serial, and is used only within its
	// validity dates.
	keys := make(wxpay.PlatformKeySet, len(w.PlatformKeys))
	for _, pk := range w.PlatformKeys {
		if pk.Serial == "" {
			return errors.New("platform_key: empty serial")
		}
		k, err := wxpay.ParsePlatformKey(pk.Serial, pk.Key)
		if err != nil {
			return err
		}
		if !k.NotAfter.IsZero() && time.Now().After(k.NotAfter) {
			w.logger.Warn("platform_key certificate has expired", zap.String("serial", k.Serial), zap.Time("not_after", k.NotAfter))
		}
		keys.Add(k)
	}
	// The refund query follows no redirect (it carries the merchant's
	// signature) and reads a bounded answer (wxpay.Client).
	w.http = &http.Client{Timeout: time.Duration(w.Timeout), Transport: handlers.NewTransport(), CheckRedirect: handlers.NoRedirects}
	w.verifier = &wxpay.NotifyVerifier{
		AppID:    w.AppID,
		MchID:    w.MchID,
		Key:      w.Key,
		APIv3Key: w.APIv3Key,
		Endpoint: w.Endpoint,
		HTTP:     w.http,
		MaxSkew:  time.Duration(w.MaxSkew),
	}
	switch {
	case w.APIv3Key != "" && w.MchID != "":
		// Its own keys, then the merchant's shared store (configured keys
		// and platform_certs auto of unicloud_payment), looked up per
		// notification.
		w.verifier.PlatformKeys = wxpay.DefaultMerchants.NotifyKeys(keys, w.MchID, func() {
			w.logger.Warn("APIv3 notification refused: no platform key can verify it; configure platform_key in this handler, "+
				"or platform_certs auto in a unicloud_payment wxpay handler of the same mch_id",
				zap.String("mch_id", w.MchID))
		})
	case len(keys) > 0:
		w.verifier.PlatformKeys = keys
	}
	return nil
}

// Validate checks that the configuration can verify notifications.
func (w *Wxpay) Validate() error {
	if w.MaxSkew < 0 {
		return errors.New("max_skew must be positive")
	}
	if w.Timeout < 0 {
		return errors.New("timeout must be positive")
	}
	if err := validEndpoint(w.Endpoint); err != nil {
		return err
	}
	if w.Key == "" && w.APIv3Key == "" {
		return errors.New("wxpay: key (APIv2) or api_v3_key (APIv3) is required")
	}
	if w.APIv3Key != "" {
		if len(w.APIv3Key) != 32 {
			return fmt.Errorf("api_v3_key is %d bytes, want 32", len(w.APIv3Key))
		}
		if len(w.PlatformKeys) == 0 && w.MchID == "" {
			// Without mch_id there is no merchant whose shared platform
			// keys (platform_certs auto) could be used.
			return errors.New("api_v3_key needs platform_key, or mch_id naming a merchant whose unicloud_payment wxpay handler has platform_certs auto, to verify APIv3 notifications")
		}
	} else if len(w.PlatformKeys) > 0 {
		return errors.New("platform_key needs api_v3_key")
	}
	if w.Key != "" {
		if err := handlers.CheckV2Key("key", w.Key); err != nil {
			return err
		}
	}
	return nil
}

// validEndpoint checks the refund query's endpoint: an absolute http(s)
// URL of a host, nothing after the path.
func validEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil // Provision sets the default
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL of a host, such as %s", payevent.Short(endpoint, 80), wxpay.DefaultEndpoint)
	}
	return nil
}

// Cleanup closes the refund query's idle connections. It is safe after a
// Provision that failed half way.
func (w *Wxpay) Cleanup() error {
	if w.http != nil {
		w.http.CloseIdleConnections()
	}
	return nil
}

// Name is "wxpay".
func (w *Wxpay) Name() string { return "wxpay" }

// Verify checks a v2 or APIv3 notification (told apart by its headers and
// body).
func (w *Wxpay) Verify(ctx context.Context, r *http.Request, body []byte) (string, any, error) {
	nt, err := w.verifier.Verify(ctx, r.Header, body)
	if err != nil {
		// A refund query that could not be made is not a refusal: the
		// notification could not be confirmed now. WeChat Pay retries a
		// notification answered 500.
		return "", nil, guest.Refuse(err, wxpay.CheckRefundQueryFailed)
	}
	return nt.Kind, nt.Event, nil
}

var (
	ackV2 = []byte("<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
)

// Ack is 204 without a body for APIv3, the SUCCESS XML for v2.
func (w *Wxpay) Ack(r *http.Request, body []byte) (int, string, []byte) {
	if wxpay.DetectNotifyVersion(r.Header, body) == wxpay.NotifyV3 {
		return http.StatusNoContent, "", nil
	}
	return http.StatusOK, "text/xml; charset=utf-8", ackV2
}

// Fail is {"code":"FAIL","message":msg} for APIv3, the FAIL XML for v2.
func (w *Wxpay) Fail(r *http.Request, body []byte, msg string) (string, []byte) {
	if wxpay.DetectNotifyVersion(r.Header, body) == wxpay.NotifyV3 {
		return "application/json; charset=utf-8", []byte(`{"code":"FAIL","message":` + strconv.Quote(msg) + `}`)
	}
	return "text/xml; charset=utf-8", []byte("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[" + msg + "]]></return_msg></xml>")
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Wxpay)(nil)
	_ caddy.Validator       = (*Wxpay)(nil)
	_ caddy.CleanerUpper    = (*Wxpay)(nil)
	_ caddyfile.Unmarshaler = (*Wxpay)(nil)
)
