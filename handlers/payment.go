package handlers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// Payment defaults.
const (
	DefaultPaymentTimeout = 10 * time.Second
	DefaultPaymentMaxBody = 256 << 10
)

// Payment is the unified payment API (`unicloud_payment`): backends call
// getOrderInfo, orderQuery, closeOrder, cancelOrder, refund, refundQuery,
// downloadBill and downloadFundflow with camelCase JSON and amounts in
// integer fen; the gateway signs the provider's request (WeChat Pay v2
// XML, Alipay RSA2 gateway calls), checks the signature of the answer
// before using it, and answers camelCase in fen. Merchant keys and
// certificates never leave it.
//
// Whoever can reach this handler can refund: serve it on an internal
// listener or behind authentication, never on a public route.
type Payment struct {
	// Provider is "wxpay" (WeChat Pay) or "alipay".
	Provider string `json:"provider,omitempty"`
	// Version is the WeChat Pay API version: "v2" (default) or "v3"
	// (APIv3: JSON requests signed with the merchant API private key,
	// answers verified with the platform keys).
	Version string `json:"version,omitempty"`

	// AppID is the appid bound to the WeChat Pay merchant, or the Alipay
	// application's app_id.
	AppID string `json:"app_id,omitempty"`
	// MchID is the WeChat Pay merchant id (商户号).
	MchID string `json:"mch_id,omitempty"`
	// Key is the WeChat Pay APIv2 key.
	Key string `json:"key,omitempty"`
	// Pfx is the path of the WeChat Pay merchant certificate
	// (apiclient_cert.p12), presented for refund and downloadFundflow
	// (mutual TLS).
	Pfx string `json:"pfx,omitempty"`
	// PfxPassword opens Pfx (default: mch_id, as WeChat Pay issues it).
	PfxPassword string `json:"pfx_password,omitempty"`
	// SignType is the WeChat Pay v2 sign type: MD5 (default) or
	// HMAC-SHA256.
	SignType string `json:"sign_type,omitempty"`

	// PrivateKey is the Alipay application private key, or the WeChat Pay
	// APIv3 merchant API private key (apiclient_key.pem); PEM or bare
	// base64.
	PrivateKey string `json:"private_key,omitempty"`
	// KeyType is the form of PrivateKey: PKCS8 (default) or PKCS1. Either
	// form is read whatever is named here; a mismatch is logged.
	KeyType string `json:"key_type,omitempty"`
	// AlipayPublicKey is Alipay's public key (not the application's), PEM
	// or bare base64: every answer is verified with it.
	AlipayPublicKey string `json:"alipay_public_key,omitempty"`

	// SerialNo is the serial number of the WeChat Pay merchant API
	// certificate (APIv3), sent in every request's Authorization.
	SerialNo string `json:"serial_no,omitempty"`
	// APIv3Key is the WeChat Pay APIv3 key (32 bytes): it decrypts the
	// platform certificates downloaded with platform_certs auto.
	APIv3Key string `json:"api_v3_key,omitempty"`
	// PlatformKeys are WeChat Pay platform keys (APIv3) by the
	// Wechatpay-Serial that names them: a public key with its PUB_KEY_ID_…,
	// or a platform certificate with its serial.
	PlatformKeys []NotifyPlatformKey `json:"platform_keys,omitempty"`
	// PlatformCerts "auto" downloads the platform certificates
	// (/v3/certificates) at first use and every 12 hours, shared by the
	// merchant's handlers and through Caddy's storage by every instance.
	PlatformCerts string `json:"platform_certs,omitempty"`
	// PlatformRoot is a CA certificate (PEM text or the path of a PEM
	// file) every downloaded platform certificate must chain to.
	PlatformRoot string `json:"platform_root,omitempty"`
	// MaxSkew is how far an APIv3 answer's Wechatpay-Timestamp may be from
	// now, either way (default 5m).
	MaxSkew caddy.Duration `json:"max_skew,omitempty"`

	// NotifyURL is the default notifyUrl of getOrderInfo.
	NotifyURL string `json:"notify_url,omitempty"`
	// Endpoint is the provider's address: for WeChat Pay the API host
	// (default https://api.mch.weixin.qq.com), for Alipay the gateway URL
	// (default https://openapi.alipay.com/gateway.do). Point it at an
	// emulator or an egress proxy.
	Endpoint string `json:"endpoint,omitempty"`
	// Sandbox uses the provider's sandbox: WeChat Pay's /sandboxnew paths
	// with the sandbox sign key, or Alipay's sandbox gateway.
	Sandbox bool `json:"sandbox,omitempty"`
	// CACert is extra CA certificates (PEM text, or the path of a PEM file)
	// trusted for the endpoint besides the system roots: for an emulator
	// or an egress proxy with its own CA.
	CACert string `json:"ca_cert,omitempty"`
	// Timeout bounds each provider call (default 10s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxBody bounds a caller's request body in bytes (default 256 KiB).
	MaxBody int64 `json:"max_body,omitempty"`

	wx      *wxpay.Client
	wx3     *wxpay.ClientV3
	ali     *alipay.Client
	logger  *zap.Logger
	timeout time.Duration
	// releasePlatform gives back the platform key store (APIv3).
	releasePlatform func()
}

// CaddyModule returns the Caddy module information.
func (Payment) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.unicloud_payment",
		New: func() caddy.Module { return new(Payment) },
	}
}

// paymentCalls counts calls by provider, call and outcome. It is created
// once per process and registered into each config's registry.
var paymentCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "unicloud", Name: "payment_calls_total",
	Help: "Calls of the unified payment API by provider, call and outcome (ok, provider_error, or the gateway error code).",
}, []string{"provider", "call", "outcome"})

// Provision resolves placeholders, applies defaults, parses the keys and
// the merchant certificate and builds the provider client. It makes no
// network call.
func (h *Payment) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	registerCollectors(ctx.GetMetricsRegistry(), paymentCalls)
	if err := h.resolvePlaceholders(); err != nil {
		return err
	}
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok {
		// The server being provisioned: its listen addresses are final.
		warnPublicListen(h.logger, "unicloud_payment", srv.Listen)
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(DefaultPaymentTimeout)
	}
	h.timeout = time.Duration(h.Timeout)
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultPaymentMaxBody
	}
	h.Endpoint = strings.TrimRight(h.Endpoint, "/")

	transport := newTransport()
	if h.CACert != "" {
		pool, err := caPool(h.CACert)
		if err != nil {
			return fmt.Errorf("unicloud_payment: ca_cert: %w", err)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	hc := &http.Client{Timeout: h.timeout, Transport: transport, CheckRedirect: noRedirects}

	switch h.Provider {
	case "wxpay":
		if h.Version == "v3" {
			return h.provisionWxpayV3(ctx, hc)
		}
		return h.provisionWxpay(transport, hc)
	case "alipay":
		return h.provisionAlipayPayment(hc)
	}
	return nil // Validate names the problem
}

// resolvePlaceholders resolves the {env.*} and {file.*} placeholders of
// every option; a placeholder that resolves to nothing, or a file path
// given where a key's content belongs, is refused.
func (h *Payment) resolvePlaceholders() error {
	provider, err := resolveSecret("provider", h.Provider)
	if err != nil {
		return fmt.Errorf("unicloud_payment: %w", err)
	}
	h.Provider = provider
	opts := []option{
		{"version", &h.Version, false}, {"app_id", &h.AppID, false}, {"mch_id", &h.MchID, false},
		{"key", &h.Key, false}, {"pfx", &h.Pfx, false}, {"pfx_password", &h.PfxPassword, false},
		{"sign_type", &h.SignType, false}, {"private_key", &h.PrivateKey, true}, {"key_type", &h.KeyType, false},
		{"alipay_public_key", &h.AlipayPublicKey, true}, {"notify_url", &h.NotifyURL, false},
		{"endpoint", &h.Endpoint, false}, {"ca_cert", &h.CACert, false}, {"serial_no", &h.SerialNo, false},
		{"api_v3_key", &h.APIv3Key, false}, {"platform_certs", &h.PlatformCerts, false},
		{"platform_root", &h.PlatformRoot, false},
	}
	for i := range h.PlatformKeys {
		opts = append(opts, option{"platform_key", &h.PlatformKeys[i].Serial, false},
			option{"platform_key " + h.PlatformKeys[i].Serial, &h.PlatformKeys[i].Key, true})
	}
	return resolveOptions("unicloud_payment "+h.Provider, opts...)
}

func (h *Payment) provisionWxpay(transport *http.Transport, hc *http.Client) error {
	if h.Version == "" {
		h.Version = "v2"
	}
	if h.SignType == "" {
		h.SignType = signing.SignTypeMD5
	}
	endpoint := h.Endpoint
	if endpoint == "" {
		endpoint = wxpay.DefaultEndpoint
	}
	h.wx = &wxpay.Client{
		AppID: h.AppID, MchID: h.MchID, Key: h.Key, SignType: h.SignType,
		Endpoint: endpoint, Sandbox: h.Sandbox, HTTP: hc,
	}
	if h.Pfx == "" {
		return nil
	}
	cert, err := loadPfx(h.Pfx, h.PfxPassword, h.MchID)
	if err != nil {
		return fmt.Errorf("unicloud_payment wxpay: pfx: %w", err)
	}
	ct := transport.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if transport.TLSClientConfig != nil {
		cfg = transport.TLSClientConfig.Clone()
	}
	cfg.Certificates = []tls.Certificate{cert}
	ct.TLSClientConfig = cfg
	h.wx.CertHTTP = &http.Client{Timeout: h.timeout, Transport: ct, CheckRedirect: noRedirects}
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

// caPool is the system roots plus the PEM certificates of pemOrPath.
func caPool(pemOrPath string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	return appendPEMCerts(pool, pemOrPath)
}

// appendPEMCerts adds the certificates of pemOrPath (PEM text, or the path
// of a PEM file) to pool; finding none is an error.
func appendPEMCerts(pool *x509.CertPool, pemOrPath string) (*x509.CertPool, error) {
	data := []byte(pemOrPath)
	if !strings.Contains(pemOrPath, "-----BEGIN") {
		b, err := os.ReadFile(pemOrPath)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s", pemOrPath)
		}
		data = b
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

func (h *Payment) provisionAlipayPayment(hc *http.Client) error {
	if h.KeyType == "" {
		h.KeyType = "PKCS8"
	}
	endpoint := h.Endpoint
	if endpoint == "" {
		endpoint = alipay.DefaultEndpoint
		if h.Sandbox {
			endpoint = alipay.SandboxEndpoint
		}
	}
	h.ali = &alipay.Client{AppID: h.AppID, Endpoint: endpoint, HTTP: hc}
	if h.PrivateKey != "" {
		key, err := parseAppKey(h.PrivateKey, h.KeyType, h.logger)
		if err != nil {
			return fmt.Errorf("unicloud_payment alipay: private_key: %w", err)
		}
		h.ali.PrivateKey = key
	}
	if h.AlipayPublicKey != "" {
		pub, err := signing.ParseRSAPublicKey(h.AlipayPublicKey)
		if err != nil {
			return fmt.Errorf("unicloud_payment alipay: alipay_public_key: %w", err)
		}
		h.ali.AlipayPublicKey = pub
	}
	return nil
}

// Validate checks the configuration.
func (h *Payment) Validate() error {
	switch h.Provider {
	case "wxpay":
		if h.Version == "v3" {
			if err := h.validateWxpayV3(); err != nil {
				return err
			}
			break
		}
		if h.Version != "v2" {
			return fmt.Errorf("unicloud_payment wxpay: version must be v2 or v3, not %q", h.Version)
		}
		if h.AppID == "" || h.MchID == "" || h.Key == "" {
			return errors.New("unicloud_payment wxpay: app_id, mch_id and key are required")
		}
		if err := checkV2Key("key", h.Key); err != nil {
			return fmt.Errorf("unicloud_payment wxpay: %w", err)
		}
		if h.SignType != signing.SignTypeMD5 && h.SignType != signing.SignTypeHMACSHA256 {
			return fmt.Errorf("unicloud_payment wxpay: sign_type must be MD5 or HMAC-SHA256, not %q", h.SignType)
		}
		if h.Sandbox && h.SignType != signing.SignTypeMD5 {
			return errors.New("unicloud_payment wxpay: the sandbox signs with MD5 only")
		}
		if h.PrivateKey != "" || h.AlipayPublicKey != "" || h.KeyType != "" {
			return errors.New("unicloud_payment wxpay: private_key, key_type and alipay_public_key are for provider alipay (or WeChat Pay v3)")
		}
		if h.hasV3Fields() {
			return errors.New("unicloud_payment wxpay: serial_no, api_v3_key, platform_key, platform_certs, platform_root and max_skew are for version v3")
		}
		if h.PfxPassword != "" && h.Pfx == "" {
			return errors.New("unicloud_payment wxpay: pfx_password needs pfx (the merchant certificate it opens)")
		}
	case "alipay":
		if h.AppID == "" || h.PrivateKey == "" || h.AlipayPublicKey == "" {
			return errors.New("unicloud_payment alipay: app_id, private_key and alipay_public_key are required")
		}
		if h.KeyType != "PKCS8" && h.KeyType != "PKCS1" {
			return fmt.Errorf("unicloud_payment alipay: key_type must be PKCS8 or PKCS1, not %q", h.KeyType)
		}
		if h.MchID != "" || h.Key != "" || h.Pfx != "" || h.PfxPassword != "" || h.SignType != "" || h.Version != "" || h.hasV3Fields() {
			return errors.New("unicloud_payment alipay: mch_id, key, pfx, pfx_password, sign_type, version and the v3 options are for provider wxpay")
		}
	case "":
		return errors.New("unicloud_payment: provider is required: wxpay or alipay")
	default:
		return fmt.Errorf("unicloud_payment: unknown provider %q (wxpay or alipay)", h.Provider)
	}
	if h.MaxBody < 0 {
		return errors.New("unicloud_payment: max_body must be positive")
	}
	// The provider calls notify_url from the internet: a relative URL, or
	// another scheme, cannot be reached.
	if h.NotifyURL != "" {
		if err := checkHTTPURL("notify_url", h.NotifyURL); err != nil {
			return fmt.Errorf("unicloud_payment %s: %w", h.Provider, err)
		}
	}
	if h.Endpoint != "" {
		if err := checkHTTPURL("endpoint", h.Endpoint); err != nil {
			return fmt.Errorf("unicloud_payment %s: %w", h.Provider, err)
		}
	}
	return nil
}

// Cleanup closes the idle connections of the provider clients (a config
// reload builds new ones).
func (h *Payment) Cleanup() error {
	if h.wx != nil {
		for _, c := range []*http.Client{h.wx.HTTP, h.wx.CertHTTP} {
			if c != nil {
				c.CloseIdleConnections()
			}
		}
	}
	if h.ali != nil && h.ali.HTTP != nil {
		h.ali.HTTP.CloseIdleConnections()
	}
	h.cleanupWxpayV3()
	return nil
}

// The calls of the unified payment API.
const (
	callGetOrderInfo     = "getOrderInfo"
	callOrderQuery       = "orderQuery"
	callCloseOrder       = "closeOrder"
	callCancelOrder      = "cancelOrder"
	callRefund           = "refund"
	callRefundQuery      = "refundQuery"
	callDownloadBill     = "downloadBill"
	callDownloadFundflow = "downloadFundflow"
)

var paymentCallNames = map[string]bool{
	callGetOrderInfo: true, callOrderQuery: true, callCloseOrder: true, callCancelOrder: true,
	callRefund: true, callRefundQuery: true, callDownloadBill: true, callDownloadFundflow: true,
}

// paymentCallName is the call a request names: the last segment of its
// path ("payment.getOrderInfo" is getOrderInfo too).
func paymentCallName(p string) (string, bool) {
	p = strings.TrimRight(p, "/")
	name := p[strings.LastIndexByte(p, '/')+1:]
	name = strings.TrimPrefix(name, "payment.")
	return name, paymentCallNames[name]
}

// ServeHTTP answers one call. It is a terminal handler: next is not
// called.
func (h *Payment) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	name, known := paymentCallName(r.URL.Path)
	label := name
	if !known {
		label = "unknown"
	}
	outcome, err := h.serve(w, r, name, known)
	if err != nil {
		outcome = failCall(w, h.logger, err, zap.String("provider", h.Provider), zap.String("call", label))
	}
	paymentCalls.WithLabelValues(h.Provider, label, outcome).Inc()
	return nil
}

func (h *Payment) serve(w http.ResponseWriter, r *http.Request, name string, known bool) (string, error) {
	if !known {
		return "", newError(http.StatusNotFound, ErrAPINotFound, "unknown payment call: "+strings.Trim(r.URL.Path, "/"))
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", newError(http.StatusMethodNotAllowed, ErrBadRequest, "payment calls are POST requests")
	}
	in, err := readPayParams(r, h.MaxBody)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	var out map[string]any
	switch {
	case h.wx3 != nil:
		out, err = h.wxpayV3Call(ctx, name, in)
	case h.Provider == "wxpay":
		out, err = h.wxpayCall(ctx, name, in)
	case h.Provider == "alipay":
		out, err = h.alipayCall(ctx, name, in)
	}
	if err != nil {
		if be, ok := businessAnswer(err); ok {
			writeAnswer(w, be)
			return "provider_error", nil
		}
		return "", paymentError(err)
	}
	out["errCode"] = 0
	out["errMsg"] = "ok"
	writeAnswer(w, out)
	return "ok", nil
}

// businessAnswer turns a provider's business failure into the caller's
// answer: HTTP 200 with the provider's code.
func businessAnswer(err error) (map[string]any, bool) {
	var wbe *wxpay.BusinessError
	if errors.As(err, &wbe) {
		return map[string]any{"errCode": wbe.Code, "errMsg": wbe.Msg}, true
	}
	var abe *alipay.BusinessError
	if errors.As(err, &abe) {
		return map[string]any{"errCode": abe.ErrCode(), "errMsg": abe.ErrMsg()}, true
	}
	return nil, false
}

// paymentError maps a provider client error to the gateway error the
// caller gets.
func paymentError(err error) error {
	var ge *gatewayError
	if errors.As(err, &ge) {
		return ge
	}
	var wse *wxpay.SignatureError
	var ase *alipay.SignatureError
	if errors.As(err, &wse) || errors.As(err, &ase) {
		return newError(http.StatusBadGateway, ErrUpstreamBadSignature, "the provider's answer failed the signature check")
	}
	var wpe *wxpay.ParamError
	if errors.As(err, &wpe) {
		return newError(http.StatusBadRequest, ErrBadRequest, wpe.Msg)
	}
	if errors.Is(err, wxpay.ErrNoCertificate) {
		return newError(http.StatusBadRequest, ErrNotSupported, "this call needs the merchant certificate: configure pfx")
	}
	var wue *wxpay.UpstreamError
	if errors.As(err, &wue) {
		return upstream(wue.Timeout, wue.Reason)
	}
	var aue *alipay.UpstreamError
	if errors.As(err, &aue) {
		return upstream(aue.Timeout, aue.Reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return upstream(true, "provider did not answer in time")
	}
	return newError(http.StatusBadGateway, ErrUpstream, "provider call failed")
}

func upstream(timeout bool, reason string) error {
	if timeout {
		return newError(http.StatusGatewayTimeout, ErrUpstreamTimeout, reason)
	}
	return newError(http.StatusBadGateway, ErrUpstream, reason)
}

func writeAnswer(w http.ResponseWriter, out map[string]any) {
	body, err := json.Marshal(out)
	if err != nil {
		writeError(w, http.StatusBadGateway, ErrUpstream, "answer could not be encoded")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Payment)(nil)
	_ caddy.Validator             = (*Payment)(nil)
	_ caddy.CleanerUpper          = (*Payment)(nil)
	_ caddyhttp.MiddlewareHandler = (*Payment)(nil)
)
