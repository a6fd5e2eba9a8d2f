package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// Notify defaults.
const (
	DefaultNotifyMaxBody = 64 << 10
	DefaultNotifyMaxSkew = 5 * time.Minute
	// DefaultNotifyTimeout bounds the refund query that confirms a WeChat
	// Pay v2 refund notification.
	DefaultNotifyTimeout = 10 * time.Second
)

// Notify verifies WeChat Pay and Alipay payment notifications before a
// backend sees them: signature (on the bytes received), decryption,
// merchant identity and, for WeChat Pay APIv3, freshness. A notification
// that passes is handed to the next handler as camelCase JSON; the
// backend's 2xx is turned into the acknowledgement the provider expects.
// A notification that fails a check never reaches the next handler.
//
// Secrets are best given as placeholders ({env.*}, {file.*}).
type Notify struct {
	// Provider is "wxpay" or "alipay".
	Provider string `json:"provider,omitempty"`

	// AppID, when set, must equal the notification's appid (WeChat Pay;
	// APIv3 refund notifications carry none) or app_id (Alipay).
	AppID string `json:"app_id,omitempty"`
	// MchID, when set, must equal the notification's mch_id / mchid
	// (WeChat Pay only).
	MchID string `json:"mch_id,omitempty"`
	// Key is the WeChat Pay APIv2 key: v2 signatures (MD5, HMAC-SHA256)
	// and the decryption of refund req_info.
	Key string `json:"key,omitempty"`
	// APIv3Key is the WeChat Pay APIv3 key (32 bytes), which decrypts the
	// resource of APIv3 notifications.
	APIv3Key string `json:"api_v3_key,omitempty"`
	// PlatformKeys are the WeChat Pay platform keys that verify APIv3
	// notifications, by the Wechatpay-Serial that names them. With mch_id
	// set, the platform keys of that merchant's unicloud_payment handlers
	// (configured, or downloaded with platform_certs auto) verify them too;
	// a notification with an unknown serial makes them refresh once
	// (rate-limited) before it is refused.
	PlatformKeys []NotifyPlatformKey `json:"platform_keys,omitempty"`
	// AlipayPublicKey is the Alipay public key (PEM or bare base64; not
	// the app's own key) that verifies Alipay notifications.
	AlipayPublicKey string `json:"alipay_public_key,omitempty"`

	// MaxBody is the largest notification body read, in bytes (default
	// 64 KiB). A larger body is refused with 413 and never forwarded.
	MaxBody int64 `json:"max_body,omitempty"`
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
	// UpstreamSecret, when set, makes the handler add
	// X-Unicloud-Signature: sha256=<lowercase hex HMAC-SHA256 of the body>
	// to what the backend receives.
	UpstreamSecret string `json:"upstream_secret,omitempty"`

	wxpay  *wxpay.NotifyVerifier
	alipay *alipay.NotifyVerifier
	secret []byte
	logger *zap.Logger
	http   *http.Client // the refund query's
}

// NotifyPlatformKey is one WeChat Pay platform key.
type NotifyPlatformKey struct {
	// Serial is the platform certificate serial number, or the public key
	// ID ("PUB_KEY_ID_…"), as sent in Wechatpay-Serial.
	Serial string `json:"serial,omitempty"`
	// Key is the public key or the platform certificate, PEM or bare
	// base64.
	Key string `json:"key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Notify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.unicloud_payment_notify",
		New: func() caddy.Module { return new(Notify) },
	}
}

// notifyCount counts notifications by provider, kind and result. It is
// created once per process and registered into each config's registry.
var notifyCount = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy",
	Subsystem: "unicloud",
	Name:      "payment_notifications_total",
	Help:      "Payment notifications by provider, kind (payment, refund, unknown) and result (accepted, refused_<check>, backend_failed).",
}, []string{"provider", "kind", "result"})

// Provision replaces placeholders, applies defaults and parses keys. It
// makes no network call.
func (n *Notify) Provision(ctx caddy.Context) error {
	n.logger = ctx.Logger()
	registerCollectors(ctx.GetMetricsRegistry(), notifyCount)

	opts := []option{{"provider", &n.Provider, false}, {"app_id", &n.AppID, false}, {"mch_id", &n.MchID, false},
		{"key", &n.Key, false}, {"api_v3_key", &n.APIv3Key, false}, {"alipay_public_key", &n.AlipayPublicKey, true},
		{"endpoint", &n.Endpoint, false}, {"upstream_secret", &n.UpstreamSecret, false}}
	for i := range n.PlatformKeys {
		opts = append(opts, option{"platform_key", &n.PlatformKeys[i].Serial, false},
			option{"platform_key " + n.PlatformKeys[i].Serial, &n.PlatformKeys[i].Key, true})
	}
	if err := resolveOptions("unicloud_payment_notify", opts...); err != nil {
		return err
	}
	if n.MaxBody == 0 {
		n.MaxBody = DefaultNotifyMaxBody
	}
	if n.MaxSkew == 0 {
		n.MaxSkew = caddy.Duration(DefaultNotifyMaxSkew)
	}
	if n.UpstreamSecret != "" {
		n.secret = []byte(n.UpstreamSecret)
	}

	switch n.Provider {
	case "wxpay":
		// The same parsing as unicloud_payment's platform_key: a
		// certificate must carry the configured serial, and is used only
		// within its validity dates.
		keys := make(wxpay.PlatformKeySet, len(n.PlatformKeys))
		for _, pk := range n.PlatformKeys {
			if pk.Serial == "" {
				return errors.New("platform_key: empty serial")
			}
			k, err := wxpay.ParsePlatformKey(pk.Serial, pk.Key)
			if err != nil {
				return err
			}
			if !k.NotAfter.IsZero() && time.Now().After(k.NotAfter) {
				n.logger.Warn("platform_key certificate has expired", zap.String("serial", k.Serial), zap.Time("not_after", k.NotAfter))
			}
			keys.Add(k)
		}
		if n.Endpoint == "" {
			n.Endpoint = wxpay.DefaultEndpoint
		}
		n.Endpoint = strings.TrimRight(n.Endpoint, "/")
		if n.Timeout == 0 {
			n.Timeout = caddy.Duration(DefaultNotifyTimeout)
		}
		// The refund query follows no redirect (it carries the merchant's
		// signature) and reads a bounded answer (wxpay.Client).
		n.http = &http.Client{Timeout: time.Duration(n.Timeout), Transport: newTransport(), CheckRedirect: noRedirects}
		n.wxpay = &wxpay.NotifyVerifier{
			AppID:    n.AppID,
			MchID:    n.MchID,
			Key:      n.Key,
			APIv3Key: n.APIv3Key,
			Endpoint: n.Endpoint,
			HTTP:     n.http,
			MaxSkew:  time.Duration(n.MaxSkew),
		}
		switch {
		case n.APIv3Key != "" && n.MchID != "":
			// Its own keys, then the merchant's shared store (configured
			// keys and platform_certs auto of unicloud_payment), looked
			// up per notification.
			n.wxpay.PlatformKeys = &notifyPlatformKeys{static: keys, mchID: n.MchID, logger: n.logger}
		case len(keys) > 0:
			n.wxpay.PlatformKeys = keys
		}
	case "alipay":
		n.alipay = &alipay.NotifyVerifier{AppID: n.AppID}
		if n.AlipayPublicKey != "" {
			pub, err := signing.ParseRSAPublicKey(n.AlipayPublicKey)
			if err != nil {
				return fmt.Errorf("alipay_public_key: %w", err)
			}
			n.alipay.PublicKey = pub
		}
	}
	return nil
}

// Validate checks that the configuration can verify notifications.
func (n *Notify) Validate() error {
	if n.MaxBody < 0 {
		return errors.New("max_body must be positive")
	}
	if n.MaxSkew < 0 {
		return errors.New("max_skew must be positive")
	}
	if n.Timeout < 0 {
		return errors.New("timeout must be positive")
	}
	switch n.Provider {
	case "wxpay":
		if err := validNotifyEndpoint(n.Endpoint); err != nil {
			return err
		}
		if n.AlipayPublicKey != "" {
			return errors.New("alipay_public_key is for provider alipay")
		}
		if n.Key == "" && n.APIv3Key == "" {
			return errors.New("wxpay: key (APIv2) or api_v3_key (APIv3) is required")
		}
		if n.APIv3Key != "" {
			if len(n.APIv3Key) != 32 {
				return fmt.Errorf("api_v3_key is %d bytes, want 32", len(n.APIv3Key))
			}
			if len(n.PlatformKeys) == 0 && n.MchID == "" {
				// Without mch_id there is no merchant whose shared
				// platform keys (platform_certs auto) could be used.
				return errors.New("api_v3_key needs platform_key, or mch_id naming a merchant whose unicloud_payment wxpay handler has platform_certs auto, to verify APIv3 notifications")
			}
		} else if len(n.PlatformKeys) > 0 {
			return errors.New("platform_key needs api_v3_key")
		}
		if n.Key != "" {
			if err := checkV2Key("key", n.Key); err != nil {
				return err
			}
		}
	case "alipay":
		if n.AlipayPublicKey == "" {
			return errors.New("alipay: alipay_public_key is required")
		}
		if n.MchID != "" || n.Key != "" || n.APIv3Key != "" || len(n.PlatformKeys) > 0 || n.Endpoint != "" || n.Timeout != 0 {
			return errors.New("mch_id, key, api_v3_key, platform_key, endpoint and timeout are for provider wxpay")
		}
	case "":
		return errors.New("provider is required: wxpay or alipay")
	default:
		return fmt.Errorf("unknown provider %q: want wxpay or alipay", n.Provider)
	}
	return nil
}

// validNotifyEndpoint checks the refund query's endpoint: an absolute
// http(s) URL of a host, nothing after the path.
func validNotifyEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil // Provision sets the default
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL of a host, such as %s", payevent.Short(endpoint, 80), wxpay.DefaultEndpoint)
	}
	return nil
}

// Cleanup closes the refund query's idle connections.
func (n *Notify) Cleanup() error {
	if n.http != nil {
		n.http.CloseIdleConnections()
	}
	return nil
}

// answer forms: how the provider expects to be answered.
const (
	notifyFormWxpayV2 = iota
	notifyFormWxpayV3
	notifyFormAlipay
)

// checks of the handler itself (the providers name the others).
const (
	notifyCheckBodyTooLarge = "body_too_large"
	notifyCheckMethod       = "method"
	notifyCheckMalformed    = "malformed"
)

// ServeHTTP verifies the notification and, when it passes, hands it to next
// as JSON and answers the provider from next's status.
func (n *Notify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Whatever the caller sent as X-Unicloud-* must not reach the backend.
	for k := range r.Header {
		if len(k) >= len("X-Unicloud-") && strings.EqualFold(k[:len("X-Unicloud-")], "X-Unicloud-") {
			delete(r.Header, k)
		}
	}

	form := notifyFormAlipay
	if n.Provider == "wxpay" {
		form = notifyFormWxpayV2
		if wxpay.DetectNotifyVersion(r.Header, nil) == wxpay.NotifyV3 {
			form = notifyFormWxpayV3
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return n.refuse(w, r, form, notifyCheckMethod, http.StatusMethodNotAllowed, errors.New("method is not POST"))
	}
	if r.ContentLength > n.MaxBody {
		return n.refuse(w, r, form, notifyCheckBodyTooLarge, http.StatusRequestEntityTooLarge,
			fmt.Errorf("body of %d bytes is over max_body %d", r.ContentLength, n.MaxBody))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, n.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return n.refuse(w, r, form, notifyCheckBodyTooLarge, http.StatusRequestEntityTooLarge,
				fmt.Errorf("body is over max_body %d", n.MaxBody))
		}
		return n.refuse(w, r, form, notifyCheckMalformed, http.StatusBadRequest, errors.New("body could not be read"))
	}

	var kind string
	var event any
	switch n.Provider {
	case "wxpay":
		if wxpay.DetectNotifyVersion(r.Header, body) == wxpay.NotifyV3 {
			form = notifyFormWxpayV3
		}
		var nt *wxpay.Notification
		nt, err = n.wxpay.Verify(r.Context(), r.Header, body)
		if err == nil {
			kind, event = nt.Kind, nt.Event
		}
	default:
		var nt *alipay.Notification
		nt, err = n.alipay.Verify(body)
		if err == nil {
			kind, event = nt.Kind, nt.Event
		}
	}
	if err != nil {
		check := notifyCheckMalformed
		if c, ok := err.(interface{ NotifyCheck() string }); ok {
			check = c.NotifyCheck()
		}
		status := http.StatusUnauthorized
		switch check {
		case notifyCheckMalformed, "unsupported":
			status = http.StatusBadRequest
		case wxpay.CheckRefundQueryFailed:
			// Not refused: it could not be confirmed now. WeChat Pay
			// retries a notification answered 500.
			status = http.StatusInternalServerError
		}
		return n.refuse(w, r, form, check, status, err)
	}

	eventJSON, err := marshalNotifyEvent(event)
	if err != nil {
		return n.refuse(w, r, form, notifyCheckMalformed, http.StatusBadRequest, err)
	}
	n.forward(r, kind, eventJSON)

	// Only the backend's status matters: its headers and body go to a sink
	// (never to the provider, never held in memory).
	sink := &notifySink{header: make(http.Header)}
	rec := caddyhttp.NewResponseRecorder(sink, nil, func(int, http.Header) bool { return false })
	aborted, nextErr := serveNext(next, rec, r)
	status := rec.Status()
	switch {
	case aborted && status == 0:
		// Aborted before it answered: no status to go by.
		status = http.StatusBadGateway
		nextErr = errors.New("the backend's answer was aborted before its status")
	case aborted:
		// The backend answered, then its body broke (reverse_proxy aborts
		// with http.ErrAbortHandler): the status alone decides.
		n.logger.Debug("the backend's answer body broke after its status", zap.Int("status", status))
	}
	if nextErr != nil {
		var he caddyhttp.HandlerError
		if errors.As(nextErr, &he) && he.StatusCode != 0 {
			status = he.StatusCode
		} else {
			status = http.StatusBadGateway
		}
	} else if status == 0 {
		status = http.StatusOK // wrote nothing: net/http's implicit 200
	}
	if status < 200 || status > 299 {
		notifyCount.WithLabelValues(n.Provider, kind, "backend_failed").Inc()
		fields := []zap.Field{zap.String("provider", n.Provider), zap.String("kind", kind), zap.Int("status", status)}
		if nextErr != nil {
			fields = append(fields, zap.Error(nextErr))
		}
		n.logger.Error("backend did not accept the payment notification; the provider will retry", fields...)
		writeNotifyAnswer(w, form, false, http.StatusInternalServerError, "backend did not accept the notification")
		return nil
	}
	notifyCount.WithLabelValues(n.Provider, kind, "accepted").Inc()
	n.logger.Debug("payment notification accepted", zap.String("provider", n.Provider), zap.String("kind", kind))
	writeNotifyAnswer(w, form, true, http.StatusOK, "OK")
	return nil
}

// serveNext runs next, catching the http.ErrAbortHandler panic with which
// reverse_proxy stops an answer whose body broke after its status was
// written. Other panics go on.
func serveNext(next caddyhttp.Handler, w http.ResponseWriter, r *http.Request) (aborted bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	return false, next.ServeHTTP(w, r)
}

// forward replaces the request body with the event and sets the headers the
// backend receives.
func (n *Notify) forward(r *http.Request, kind string, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	h := r.Header
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Content-Type", "application/json")
	h.Del("Content-Encoding")
	h.Set("X-Unicloud-Provider", n.Provider)
	h.Set("X-Unicloud-Notify-Type", kind)
	if n.secret != nil {
		h.Set("X-Unicloud-Signature", "sha256="+signing.HMACSHA256Hex(n.secret, body))
	}
}

func marshalNotifyEvent(event any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" stays "<": the body is JSON for a backend, not HTML
	if err := enc.Encode(event); err != nil {
		return nil, errors.New("event could not be encoded")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// refuse answers a notification that failed a check, counts and logs it.
// The reason names the check; it never contains a key.
func (n *Notify) refuse(w http.ResponseWriter, r *http.Request, form int, check string, status int, reason error) error {
	notifyCount.WithLabelValues(n.Provider, "unknown", "refused_"+check).Inc()
	msg := "payment notification refused"
	if status >= 500 {
		msg = "payment notification could not be verified; the provider will retry"
	}
	n.logger.Warn(msg,
		zap.String("provider", n.Provider),
		zap.String("check", check),
		zap.String("reason", reason.Error()),
		zap.String("remote_ip", notifyRemoteHost(r)),
	)
	answer := "notification refused: " + check
	if status >= 500 {
		answer = "notification not verified yet: " + check
	}
	writeNotifyAnswer(w, form, false, status, answer)
	return nil
}

func notifyRemoteHost(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}

// writeNotifyAnswer writes the provider's success or failure form.
// msg is ASCII without "]]>" or quotes needing escapes beyond JSON's.
func writeNotifyAnswer(w http.ResponseWriter, form int, ok bool, status int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	var body []byte
	switch form {
	case notifyFormWxpayV3:
		if ok {
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body = []byte(`{"code":"FAIL","message":` + strconv.Quote(msg) + `}`)
		h.Set("Content-Type", "application/json; charset=utf-8")
	case notifyFormWxpayV2:
		code := "FAIL"
		if ok {
			code = "SUCCESS"
		}
		body = []byte("<xml><return_code><![CDATA[" + code + "]]></return_code><return_msg><![CDATA[" + msg + "]]></return_msg></xml>")
		h.Set("Content-Type", "text/xml; charset=utf-8")
	default:
		body = []byte("fail")
		if ok {
			body = []byte("success")
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// notifySink is the ResponseWriter the backend writes to: its headers and
// informational responses stay here, never reaching the provider.
type notifySink struct{ header http.Header }

func (s *notifySink) Header() http.Header         { return s.header }
func (s *notifySink) Write(b []byte) (int, error) { return len(b), nil }
func (s *notifySink) WriteHeader(int)             {}

// Interface guards
var (
	_ caddy.Provisioner           = (*Notify)(nil)
	_ caddy.CleanerUpper          = (*Notify)(nil)
	_ caddy.Validator             = (*Notify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Notify)(nil)
)
