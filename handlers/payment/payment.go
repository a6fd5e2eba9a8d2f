// Package payment is the host of unicloud_payment, the unified payment API:
// HTTP in and out, with the provider (WeChat Pay v2 or v3, Alipay, or a
// plugin's) loaded as a guest module from unicloud.payment.providers.
package payment

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/pay"
)

func init() {
	caddy.RegisterModule(Payment{})
}

// Defaults.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxBody = 256 << 10
)

// Payment is the unified payment API (`unicloud_payment`): backends call
// getOrderInfo, orderQuery, closeOrder, cancelOrder, refund, refundQuery,
// downloadBill and downloadFundflow with camelCase JSON and amounts in
// integer fen; the provider signs its request, checks the signature of the
// answer before using it, and the caller gets camelCase in fen. Merchant
// keys and certificates never leave the gateway.
//
// Whoever can reach this handler can refund: serve it on an internal
// listener or behind authentication, never on a public route.
//
// JSON: {"handler":"unicloud_payment","provider":{"name":"wxpay_v3",…},"timeout":"5s"}.
type Payment struct {
	// ProviderRaw is the payment provider, a module of the namespace
	// unicloud.payment.providers named by its "name" member: wxpay_v2,
	// wxpay_v3, alipay, or a plugin's.
	ProviderRaw json.RawMessage `json:"provider,omitempty" caddy:"namespace=unicloud.payment.providers inline_key=name"`
	// Timeout bounds each call to the provider (default 10s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxBody bounds a caller's request body in bytes (default 256 KiB).
	MaxBody int64 `json:"max_body,omitempty"`

	provider Provider
	pay      pay.Provider
	named    map[string]bool // the NamedCaller's own calls
	logger   *zap.Logger
	timeout  time.Duration
}

// Provider is what a guest module of unicloud.payment.providers
// implements: it builds its pay.Provider (the protocol, Caddy-free) in
// Provision and hands it over.
type Provider interface {
	// Name is the provider in logs and in the provider label of
	// payment_calls_total (wxpay for both WeChat Pay versions).
	Name() string
	// PayProvider returns the payment API built in Provision. timeout is
	// the host's bound on each call; the provider applies it to its HTTP
	// client too.
	PayProvider(timeout time.Duration) pay.Provider
}

// NamedCaller is a pay.Provider with calls of its own besides the unified
// ones (virtual payment's queryUserBalance, currencyPay…): every name
// Calls lists is answered through Call.
type NamedCaller interface {
	Calls() []string
	Call(ctx context.Context, name string, in pay.Params) (pay.Answer, error)
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

// Provision applies defaults, warns about a public listener and loads the
// provider. It makes no network call.
func (h *Payment) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	handlers.RegisterCollectors(ctx.GetMetricsRegistry(), paymentCalls)
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok {
		// The server being provisioned: its listen addresses are final.
		handlers.WarnPublicListen(h.logger, "unicloud_payment", srv.Listen)
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(DefaultTimeout)
	}
	h.timeout = time.Duration(h.Timeout)
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.ProviderRaw == nil {
		return errors.New(`unicloud_payment: provider is required, for example {"name":"wxpay_v2",…}: wxpay_v2, wxpay_v3, alipay or wxpay_virtual`)
	}
	p, err := handlers.ProvisionGuest[Provider](ctx, h, "unicloud_payment", "a payment provider")
	if err != nil {
		return err
	}
	h.provider = p
	h.pay = p.PayProvider(h.timeout)
	if nc, ok := h.pay.(NamedCaller); ok {
		h.named = map[string]bool{}
		for _, name := range nc.Calls() {
			if _, unified := calls[name]; !unified {
				h.named[name] = true
			}
		}
	}
	return nil
}

// Validate checks the host's own fields (the provider validates its own).
func (h *Payment) Validate() error {
	if h.MaxBody < 0 {
		return errors.New("unicloud_payment: max_body must be positive")
	}
	return nil
}

// The calls of the unified payment API, by the names callers use. The
// members the calls share are read and checked here, once for every
// provider.
var calls = map[string]func(context.Context, pay.Provider, pay.Params) (pay.Answer, error){
	"getOrderInfo": func(ctx context.Context, p pay.Provider, in pay.Params) (pay.Answer, error) {
		return p.GetOrderInfo(ctx, &pay.OrderRequest{Params: in})
	},
	"orderQuery":       typed(pay.NewOrderQueryRequest, pay.Provider.OrderQuery),
	"closeOrder":       typed(pay.NewCloseOrderRequest, pay.Provider.CloseOrder),
	"cancelOrder":      typed(pay.NewCancelOrderRequest, pay.Provider.CancelOrder),
	"refund":           typed(pay.NewRefundRequest, pay.Provider.Refund),
	"refundQuery":      typed(pay.NewRefundQueryRequest, pay.Provider.RefundQuery),
	"downloadBill":     typed(pay.NewBillRequest, pay.Provider.DownloadBill),
	"downloadFundflow": typed(pay.NewFundflowRequest, pay.Provider.DownloadFundflow),
}

// typed is a call whose request is read by read before the provider gets
// it.
func typed[R any](read func(pay.Params) (*R, error), call func(pay.Provider, context.Context, *R) (pay.Answer, error)) func(context.Context, pay.Provider, pay.Params) (pay.Answer, error) {
	return func(ctx context.Context, p pay.Provider, in pay.Params) (pay.Answer, error) {
		req, err := read(in)
		if err != nil {
			return nil, err
		}
		return call(p, ctx, req)
	}
}

// callName is the call a request names: the last segment of its path
// ("payment.getOrderInfo" is getOrderInfo too).
func callName(p string) (string, bool) {
	p = strings.TrimRight(p, "/")
	name := p[strings.LastIndexByte(p, '/')+1:]
	name = strings.TrimPrefix(name, "payment.")
	_, ok := calls[name]
	return name, ok
}

// ServeHTTP answers one call. It is a terminal handler: next is not
// called.
func (h *Payment) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	name, known := callName(r.URL.Path)
	if !known && h.named[name] {
		known = true
	}
	label := name
	if !known {
		label = "unknown"
	}
	provider := h.provider.Name()
	outcome, err := h.serve(w, r, name, known)
	if err != nil {
		outcome = handlers.FailCall(w, h.logger, err, zap.String("provider", provider), zap.String("call", label))
	}
	paymentCalls.WithLabelValues(provider, label, outcome).Inc()
	return nil
}

func (h *Payment) serve(w http.ResponseWriter, r *http.Request, name string, known bool) (string, error) {
	if !known {
		return "", handlers.NewError(http.StatusNotFound, handlers.ErrAPINotFound, "unknown payment call: "+strings.Trim(r.URL.Path, "/"))
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", handlers.NewError(http.StatusMethodNotAllowed, handlers.ErrBadRequest, "payment calls are POST requests")
	}
	in, err := readParams(r, h.MaxBody)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	var out pay.Answer
	if call, unified := calls[name]; unified {
		out, err = call(ctx, h.pay, in)
	} else {
		out, err = h.pay.(NamedCaller).Call(ctx, name, in)
	}
	if err != nil {
		var be *pay.BusinessError
		if errors.As(err, &be) {
			// A provider's business failure: HTTP 200 with its code.
			handlers.WriteAnswer(w, map[string]any{"errCode": be.Code, "errMsg": be.Msg})
			return "provider_error", nil
		}
		var ne *pay.NumericBusinessError
		if errors.As(err, &ne) {
			handlers.WriteAnswer(w, map[string]any{"errCode": ne.Code, "errMsg": ne.Msg})
			return "provider_error", nil
		}
		return "", callError(err)
	}
	if out == nil {
		out = pay.Answer{}
	}
	out["errCode"] = 0
	out["errMsg"] = "ok"
	handlers.WriteAnswer(w, out)
	return "ok", nil
}

// readParams reads the JSON object of a call (an empty body is no
// parameters), and the client type header.
func readParams(r *http.Request, limit int64) (pay.Params, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		return nil, handlers.BodyError(err)
	}
	m, err := handlers.DecodeObject(b)
	if err != nil {
		return nil, err
	}
	p := pay.NewParams(m)
	if _, ok := p["clientType"]; !ok {
		if ct := strings.TrimSpace(r.Header.Get("X-Unicloud-Client-Type")); ct != "" {
			p["clientType"] = ct
		}
	}
	return p, nil
}

// callError maps a provider's error to the gateway error the caller gets.
func callError(err error) error {
	var ge *handlers.Error
	if errors.As(err, &ge) {
		return ge
	}
	var pe *pay.Error
	if errors.As(err, &pe) {
		switch pe.Kind {
		case pay.ErrBadRequest:
			return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, pe.Msg)
		case pay.ErrNotSupported:
			return handlers.NewError(http.StatusBadRequest, handlers.ErrNotSupported, pe.Msg)
		case pay.ErrBadSignature:
			return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstreamBadSignature, pe.Msg)
		case pay.ErrUpstreamTimeout:
			return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, pe.Msg)
		case pay.ErrUpstream:
			return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, pe.Msg)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "provider did not answer in time")
	}
	return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider call failed")
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Payment)(nil)
	_ caddy.Validator             = (*Payment)(nil)
	_ caddyhttp.MiddlewareHandler = (*Payment)(nil)
)
