// Package messagenotify is the host of unicloud_message_notify: HTTP in and
// out for verified message pushes (WeChat 消息推送), with the provider that
// verifies them loaded as a guest module from unicloud.message_notify.providers.
package messagenotify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/inbound"
	"github.com/caddy-unicloud/unicloud/signing"
)

func init() {
	caddy.RegisterModule(MessageNotify{})
}

// providerNamespace is the namespace of the provider (guest) modules.
const providerNamespace = "unicloud.message_notify.providers"

// Defaults.
const (
	DefaultMaxBody = 1 << 20
	// maxAnswer bounds what is read of the backend's answer: a passive
	// reply fits many times over; a longer answer fails the push (500).
	maxAnswer = 64 << 10
)

// MessageNotify verifies message pushes before a backend sees them. It
// answers the provider's URL check itself, passes only verified pushes on
// to the next handler (POST, camelCase JSON, X-Unicloud-* headers), and
// turns the backend's answer into what the provider expects. A push that
// fails a check is answered 400/401/413 with "fail", logged with the check,
// and never forwarded.
//
// JSON: {"handler":"unicloud_message_notify","provider":{"name":"weixin","token":"…"},"dedupe":"10m"}.
type MessageNotify struct {
	// ProviderRaw is the provider that verifies pushes, a module of the
	// namespace unicloud.message_notify.providers named by its "name"
	// member (for example {"name":"weixin","token":"…"}).
	ProviderRaw json.RawMessage `json:"provider,omitempty" caddy:"namespace=unicloud.message_notify.providers inline_key=name"`
	// MaxBody is the largest push body read, in bytes (default 1 MiB). A
	// larger body is refused with 413 before any other check.
	MaxBody int64 `json:"max_body,omitempty"`
	// Dedupe, when set, records for this long the message id and the
	// answer of every push the backend took, in the config's storage: a
	// later push with the same id (on any instance sharing the storage) is
	// verified, then answered the same way without reaching the backend.
	Dedupe caddy.Duration `json:"dedupe,omitempty"`
	// UpstreamSecret, when set, adds X-Unicloud-Signature: sha256=<lowercase
	// hex HMAC-SHA256 of the body> to what the backend receives.
	UpstreamSecret string `json:"upstream_secret,omitempty"`

	provider Provider
	storage  certmagic.Storage
	secret   []byte
	logger   *zap.Logger
	now      func() time.Time
}

// Provider is what a guest module of unicloud.message_notify.providers
// implements.
type Provider interface {
	// Name is the provider's name in logs, metrics and X-Unicloud-Provider.
	Name() string
	// VerifyURL answers the provider's URL check (a GET): the body to
	// answer with, or a Refusal.
	VerifyURL(r *http.Request) (string, error)
	// Open verifies a push (a POST whose body has been read): the message,
	// or a Refusal.
	Open(r *http.Request, body []byte) (Message, error)
	// DedupeScope names the account whose message ids are recorded
	// (an appid, or a hash of the token); it must not be secret.
	DedupeScope() string
}

// Message is a verified push.
type Message interface {
	// ID is the message's stable id (X-Unicloud-Message-Id, dedupe key).
	ID() string
	// Type and Event are X-Unicloud-Msg-Type and X-Unicloud-Event.
	Type() string
	Event() string
	// JSON is the body the backend receives.
	JSON() []byte
	// Respond turns the backend's 2xx answer (at most 64 KiB) into the
	// provider's answer; an error makes the push fail (500).
	Respond(backend []byte) (Answer, error)
	// Fail is the answer when the backend did not take the push.
	Fail() Answer
}

// Answer is what the provider is sent back.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Refusal is a push that failed a check. Optionally it has
// LogFields() []zap.Field with more for the log line (never a secret).
type Refusal interface {
	error
	NotifyCheck() string
	HTTPStatus() int
}

// CaddyModule returns the Caddy module information.
func (MessageNotify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.unicloud_message_notify",
		New: func() caddy.Module { return new(MessageNotify) },
	}
}

// pushCount counts pushes by provider and result; created once, registered
// into each config's registry.
var pushCount = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "unicloud", Name: "message_pushes_total",
	Help: "Message pushes by provider and result (url_check, accepted, deduplicated, refused_<check>, backend_failed).",
}, []string{"provider", "result"})

// Provision loads the provider, applies defaults and takes the storage.
func (m *MessageNotify) Provision(ctx caddy.Context) error {
	if m.logger == nil {
		m.logger = ctx.Logger()
	}
	if m.now == nil {
		m.now = time.Now
	}
	handlers.RegisterCollectors(ctx.GetMetricsRegistry(), pushCount)
	// An upstream_secret whose placeholder resolves empty is a mistake, not
	// "no signature": the backend would take unsigned pushes.
	secret, err := handlers.ResolveSecret("unicloud_message_notify: upstream_secret", m.UpstreamSecret)
	if err != nil {
		return err
	}
	m.UpstreamSecret = secret
	if m.UpstreamSecret != "" {
		m.secret = []byte(m.UpstreamSecret)
	}
	if m.MaxBody == 0 {
		m.MaxBody = DefaultMaxBody
	}
	if m.ProviderRaw == nil {
		return errors.New("unicloud_message_notify: a provider is required, for example \"provider\": {\"name\":\"weixin\",…}")
	}
	p, err := handlers.ProvisionGuest[Provider](ctx, m, "unicloud_message_notify", "a message push provider")
	if err != nil {
		return err
	}
	m.provider = p
	if m.Dedupe > 0 && m.storage == nil {
		m.storage = handlers.ContextStorage(ctx)
	}
	return nil
}

// UseEnv sets the logger and the storage that Provision would otherwise
// take from the running config (nil: take it from the config). It is for
// tests and for programs that run the handler outside a Caddy config.
func (m *MessageNotify) UseEnv(logger *zap.Logger, storage certmagic.Storage) {
	m.logger, m.storage = logger, storage
}

// Validate checks the host's own fields (the provider validates its own).
func (m *MessageNotify) Validate() error {
	if m.MaxBody < 0 {
		return errors.New("max_body must be positive")
	}
	if m.Dedupe < 0 {
		return errors.New("dedupe must be positive")
	}
	if m.Dedupe > 0 && m.storage == nil {
		return errors.New("dedupe needs Caddy's storage, which this context does not have")
	}
	return nil
}

// check names of the host's own refusals.
const (
	checkMethod = "method"
	checkBody   = "body"
)

// ServeHTTP answers the URL check, or verifies a push and hands it to next.
func (m *MessageNotify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Whatever the caller sent as X-Unicloud-* must not reach the backend.
	inbound.StripReserved(r.Header)
	// The body's size is decided before anything else (a body over
	// max_body is 413 whatever the method).
	body, ref := inbound.ReadBody(w, r, m.MaxBody, checkBody)
	if ref != nil {
		return m.refuse(w, r, ref)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return m.refuse(w, r, inbound.Refuse(checkMethod, http.StatusMethodNotAllowed, "method is not GET or POST"))
	}

	if r.Method == http.MethodGet {
		echo, err := m.provider.VerifyURL(r)
		if err != nil {
			return m.refuseErr(w, r, err)
		}
		pushCount.WithLabelValues(m.provider.Name(), "url_check").Inc()
		m.logger.Info("message push URL check answered", zap.String("provider", m.provider.Name()))
		write(w, Answer{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(echo)})
		return nil
	}

	msg, err := m.provider.Open(r, body)
	if err != nil {
		return m.refuseErr(w, r, err)
	}
	if m.Dedupe > 0 {
		// A retry of a push the backend took (on any instance) is answered
		// from its record. One that arrives while the first copy is still
		// at the backend finds no record and is forwarded: WeChat has
		// given up on the first answer by then (5 s), and holding the
		// retry back would only make it time out too. Backends must be
		// idempotent, as WeChat asks.
		if prev, ok := m.recall(r, msg.ID()); ok {
			a, err := msg.Respond(prev)
			if err == nil {
				pushCount.WithLabelValues(m.provider.Name(), "deduplicated").Inc()
				m.logger.Info("message push answered from dedupe, not forwarded", m.fields(msg)...)
				write(w, a)
				return nil
			}
		}
	}

	m.forward(r, msg)
	rec := &recorder{header: make(http.Header), limit: maxAnswer}
	nextErr := next.ServeHTTP(rec, r)
	status := inbound.BackendStatus(rec.status, nextErr)
	fail := func(why string, extra ...zap.Field) error {
		pushCount.WithLabelValues(m.provider.Name(), "backend_failed").Inc()
		fields := append(m.fields(msg), zap.Int("status", status), zap.String("reason", why))
		if nextErr != nil {
			fields = append(fields, zap.Error(nextErr))
		}
		m.logger.Error("backend did not take the message push; WeChat will retry", append(fields, extra...)...)
		write(w, msg.Fail())
		return nil
	}
	if status < 200 || status > 299 {
		return fail("backend status is not 2xx")
	}
	if rec.overflow {
		return fail(fmt.Sprintf("backend answer is over %d bytes", maxAnswer))
	}
	a, err := msg.Respond(rec.body.Bytes())
	if err != nil {
		return fail(err.Error())
	}
	if m.Dedupe > 0 {
		m.record(r, msg.ID(), rec.body.Bytes())
	}
	pushCount.WithLabelValues(m.provider.Name(), "accepted").Inc()
	m.logger.Debug("message push accepted", m.fields(msg)...)
	write(w, a)
	return nil
}

func (m *MessageNotify) fields(msg Message) []zap.Field {
	f := []zap.Field{zap.String("provider", m.provider.Name()), zap.String("message_id", msg.ID()), zap.String("msg_type", msg.Type())}
	if e := msg.Event(); e != "" {
		f = append(f, zap.String("event", e))
	}
	return f
}

// forward makes r what the backend receives: POST, same path, no query,
// the message as JSON, the X-Unicloud-* headers.
func (m *MessageNotify) forward(r *http.Request, msg Message) {
	body := msg.JSON()
	inbound.SetBody(r, body)
	r.URL.RawQuery = ""
	r.URL.ForceQuery = false
	r.RequestURI = r.URL.RequestURI()
	h := r.Header
	h.Set("X-Unicloud-Provider", m.provider.Name())
	h.Set("X-Unicloud-Notify-Type", "message")
	h.Set("X-Unicloud-Msg-Type", msg.Type())
	if e := msg.Event(); e != "" {
		h.Set("X-Unicloud-Event", e)
	}
	h.Set("X-Unicloud-Message-Id", msg.ID())
	if m.secret != nil {
		h.Set("X-Unicloud-Signature", "sha256="+signing.HMACSHA256Hex(m.secret, body))
	}
}

// refuseErr refuses with a provider's error (a Refusal, else 400).
func (m *MessageNotify) refuseErr(w http.ResponseWriter, r *http.Request, err error) error {
	var ref Refusal
	if errors.As(err, &ref) {
		return m.refuse(w, r, ref)
	}
	return m.refuse(w, r, inbound.Refuse(checkBody, http.StatusBadRequest, err.Error()))
}

// refuse answers a push that failed a check with its status and "fail",
// counts it and logs one WARN line naming the check.
func (m *MessageNotify) refuse(w http.ResponseWriter, r *http.Request, ref Refusal) error {
	name := "unknown"
	if m.provider != nil {
		name = m.provider.Name()
	}
	pushCount.WithLabelValues(name, "refused_"+ref.NotifyCheck()).Inc()
	m.logger.Warn("message push refused", inbound.RefusalFields(name, ref, r)...)
	write(w, Answer{Status: ref.HTTPStatus(), ContentType: "text/plain; charset=utf-8", Body: []byte("fail")})
	return nil
}

func write(w http.ResponseWriter, a Answer) { inbound.Write(w, a.Status, a.ContentType, a.Body) }

// recorder is the ResponseWriter the backend writes to: it keeps the status
// and at most limit bytes of the body; headers stay here.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int
	overflow bool
}

func (rc *recorder) Header() http.Header { return rc.header }

func (rc *recorder) WriteHeader(status int) {
	if rc.status == 0 && status >= 200 {
		rc.status = status
	}
}

func (rc *recorder) Write(b []byte) (int, error) {
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	if room := rc.limit - rc.body.Len(); len(b) > room {
		rc.body.Write(b[:max(room, 0)])
		rc.overflow = true
		return len(b), nil
	}
	return rc.body.Write(b)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*MessageNotify)(nil)
	_ caddy.Validator             = (*MessageNotify)(nil)
	_ caddyhttp.MiddlewareHandler = (*MessageNotify)(nil)
	_ http.ResponseWriter         = (*recorder)(nil)
)
