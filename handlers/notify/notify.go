// Package notify is the host of unicloud_payment_notify: HTTP in and out
// for payment and refund notifications, with the provider that verifies
// them (WeChat Pay, Alipay, or a plugin's) loaded as a guest module from
// unicloud.notify.providers.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/inbound"
	"github.com/caddy-unicloud/unicloud/signing"
)

func init() {
	caddy.RegisterModule(Notify{})
}

// providerNamespace is the namespace of the provider (guest) modules.
const providerNamespace = "unicloud.notify.providers"

// DefaultMaxBody is the largest notification body read by default.
const DefaultMaxBody = 64 << 10

// Notify verifies payment notifications before a backend sees them. The
// provider checks signature (on the bytes received), decryption, merchant
// identity and freshness; a notification that passes is handed to the
// next handler as camelCase JSON, and the backend's 2xx is turned into the
// acknowledgement the provider expects. A notification that fails a check
// never reaches the next handler.
//
// JSON: {"handler":"unicloud_payment_notify","provider":{"name":"wxpay","mch_id":"…","key":"…"},"max_body":65536}.
type Notify struct {
	// ProviderRaw is the provider that verifies notifications, a module of
	// the namespace unicloud.notify.providers named by its "name" member
	// (for example {"name":"alipay","alipay_public_key":"…"}).
	ProviderRaw json.RawMessage `json:"provider,omitempty" caddy:"namespace=unicloud.notify.providers inline_key=name"`
	// MaxBody is the largest notification body read, in bytes (default
	// 64 KiB). A larger body is refused with 413 and never forwarded.
	MaxBody int64 `json:"max_body,omitempty"`
	// UpstreamSecret, when set, makes the handler add
	// X-Unicloud-Signature: sha256=<lowercase hex HMAC-SHA256 of the body>
	// to what the backend receives.
	UpstreamSecret string `json:"upstream_secret,omitempty"`

	provider Provider
	secret   []byte
	logger   *zap.Logger
}

// Provider is what a guest module of unicloud.notify.providers implements.
// Its methods use only standard types, so a provider package needs not
// import this one.
type Provider interface {
	// Name is the provider's name in logs, metrics, X-Unicloud-Provider
	// and the event's "provider" member.
	Name() string
	// Verify checks the notification r whose body (the exact bytes
	// received) has been read. It returns the verified event's kind
	// ("payment", "refund") and the event, which the host encodes as the
	// JSON the backend receives; or an error, best a Refusal.
	Verify(ctx context.Context, r *http.Request, body []byte) (kind string, event any, err error)
	// Ack is the acknowledgement of a notification the backend took: its
	// status, Content-Type ("" for none) and body.
	Ack(r *http.Request, body []byte) (status int, contentType string, answer []byte)
	// Fail is the provider's failure form carrying msg (ASCII, no quotes
	// or markup), which the host sends with the refusal's status. body is
	// nil when the refusal came before the body was read.
	Fail(r *http.Request, body []byte, msg string) (contentType string, answer []byte)
}

// Refusal is a notification that failed a check: the check's name (in the
// log line, the metric and the answer) and the status to answer with
// (400 malformed, 401 not genuine, 500 not verifiable now: the provider
// will retry). An error without HTTPStatus is answered 400 as malformed.
// Optionally it has LogFields() []zap.Field with more for the log line
// (never a secret).
type Refusal interface {
	error
	NotifyCheck() string
	HTTPStatus() int
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

// Provision loads the provider and applies defaults. It makes no network
// call.
func (n *Notify) Provision(ctx caddy.Context) error {
	if n.logger == nil {
		n.logger = ctx.Logger()
	}
	handlers.RegisterCollectors(ctx.GetMetricsRegistry(), notifyCount)
	if err := handlers.ResolveOptions("unicloud_payment_notify", handlers.Option{Name: "upstream_secret", Value: &n.UpstreamSecret}); err != nil {
		return err
	}
	if n.UpstreamSecret != "" {
		n.secret = []byte(n.UpstreamSecret)
	}
	if n.MaxBody == 0 {
		n.MaxBody = DefaultMaxBody
	}
	if n.provider != nil {
		return nil // given by UseEnv
	}
	if n.ProviderRaw == nil {
		return errors.New("unicloud_payment_notify: provider is required: wxpay or alipay, for example \"provider\": {\"name\":\"wxpay\",…}")
	}
	p, err := handlers.ProvisionGuest[Provider](ctx, n, "unicloud_payment_notify", "a payment notification provider")
	if err != nil {
		return err
	}
	n.provider = p
	return nil
}

// UseEnv sets the logger and the provider that Provision would otherwise
// take from the running config (nil: take it from the config); the
// provider must be provisioned already. It is for tests and for programs
// that run the handler outside a Caddy config.
func (n *Notify) UseEnv(logger *zap.Logger, p Provider) {
	if logger != nil {
		n.logger = logger
	}
	if p != nil {
		n.provider = p
	}
}

// Validate checks the host's own fields (the provider validates its own).
func (n *Notify) Validate() error {
	if n.MaxBody < 0 {
		return errors.New("max_body must be positive")
	}
	return nil
}

// checks of the host itself (the provider names the others; the body's
// size is inbound.CheckBodyTooLarge).
const (
	checkMethod    = "method"
	checkMalformed = "malformed"
)

// ServeHTTP verifies the notification and, when it passes, hands it to next
// as JSON and answers the provider from next's status.
func (n *Notify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Whatever the caller sent as X-Unicloud-* must not reach the backend.
	inbound.StripReserved(r.Header)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return n.refuse(w, r, nil, inbound.Refuse(checkMethod, http.StatusMethodNotAllowed, "method is not POST"))
	}
	body, ref := inbound.ReadBody(w, r, n.MaxBody, checkMalformed)
	if ref != nil {
		return n.refuse(w, r, nil, ref)
	}

	kind, event, err := n.provider.Verify(r.Context(), r, body)
	if err != nil {
		var ref Refusal
		if !errors.As(err, &ref) {
			ref = inbound.Refuse(checkMalformed, http.StatusBadRequest, err.Error())
		}
		return n.refuse(w, r, body, ref)
	}
	eventJSON, err := marshalEvent(event)
	if err != nil {
		return n.refuse(w, r, body, inbound.Refuse(checkMalformed, http.StatusBadRequest, err.Error()))
	}
	n.forward(r, kind, eventJSON)

	// Only the backend's status matters: its headers and body go to a sink
	// (never to the provider, never held in memory).
	sink := &sink{header: make(http.Header)}
	aborted, nextErr := serveNext(next, sink, r)
	status := sink.status
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
	status = inbound.BackendStatus(status, nextErr)
	name := n.provider.Name()
	if status < 200 || status > 299 {
		notifyCount.WithLabelValues(name, kind, "backend_failed").Inc()
		fields := []zap.Field{zap.String("provider", name), zap.String("kind", kind), zap.Int("status", status)}
		if nextErr != nil {
			fields = append(fields, zap.Error(nextErr))
		}
		n.logger.Error("backend did not accept the payment notification; the provider will retry", fields...)
		ct, answer := n.provider.Fail(r, body, "backend did not accept the notification")
		inbound.Write(w, http.StatusInternalServerError, ct, answer)
		return nil
	}
	notifyCount.WithLabelValues(name, kind, "accepted").Inc()
	if ce := n.logger.Check(zap.DebugLevel, "payment notification accepted"); ce != nil {
		ce.Write(zap.String("provider", name), zap.String("kind", kind))
	}
	status, ct, answer := n.provider.Ack(r, body)
	inbound.Write(w, status, ct, answer)
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
	inbound.SetBody(r, body)
	h := r.Header
	h.Set("X-Unicloud-Provider", n.provider.Name())
	h.Set("X-Unicloud-Notify-Type", kind)
	if n.secret != nil {
		h.Set("X-Unicloud-Signature", "sha256="+signing.HMACSHA256Hex(n.secret, body))
	}
}

func marshalEvent(event any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" stays "<": the body is JSON for a backend, not HTML
	if err := enc.Encode(event); err != nil {
		return nil, errors.New("event could not be encoded")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// refuse answers a notification that failed a check in the provider's
// failure form, counts it and logs one WARN line naming the check. The
// reason never contains a key.
func (n *Notify) refuse(w http.ResponseWriter, r *http.Request, body []byte, ref Refusal) error {
	name, check, status := n.provider.Name(), ref.NotifyCheck(), ref.HTTPStatus()
	notifyCount.WithLabelValues(name, "unknown", "refused_"+check).Inc()
	msg, answer := "payment notification refused", "notification refused: "+check
	if status >= 500 {
		msg, answer = "payment notification could not be verified; the provider will retry", "notification not verified yet: "+check
	}
	n.logger.Warn(msg, inbound.RefusalFields(name, ref, r)...)
	ct, b := n.provider.Fail(r, body, answer)
	inbound.Write(w, status, ct, b)
	return nil
}

// sink is the ResponseWriter the backend writes to: it keeps the status
// (as Caddy's response recorder: the last informational one until a final
// one); headers, body and informational responses stay here, never
// reaching the provider.
type sink struct {
	header http.Header
	status int
	final  bool
}

func (s *sink) Header() http.Header { return s.header }

func (s *sink) WriteHeader(status int) {
	if s.final {
		return
	}
	s.status = status
	s.final = status < 100 || status > 199
}

func (s *sink) Write(b []byte) (int, error) {
	if !s.final {
		s.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Notify)(nil)
	_ caddy.Validator             = (*Notify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Notify)(nil)
	_ Refusal                     = inbound.Refusal{}
	_ http.ResponseWriter         = (*sink)(nil)
)
