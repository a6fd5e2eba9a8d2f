package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-unicloud/unicloud/handlers/internal/inbound"
	"github.com/caddy-unicloud/unicloud/signing"
)

const testSecret = "backend-hmac-secret"

// fake is a provider that takes every notification whose body is "ok" and
// refuses the others with the check and status they name ("bad:<check>:<status>").
type fake struct {
	verified int // notifications Verify saw
}

func (f *fake) Name() string { return "fake" }

func (f *fake) Verify(_ context.Context, _ *http.Request, body []byte) (string, any, error) {
	f.verified++
	s := string(body)
	switch {
	case s == "ok":
		return "payment", map[string]any{"provider": "fake", "type": "payment", "note": "<b>&"}, nil
	case s == "plain error":
		return "", nil, errors.New("not readable")
	case s == "unencodable":
		return "payment", func() {}, nil
	case strings.HasPrefix(s, "bad:"):
		p := strings.Split(s, ":")
		st, _ := strconv.Atoi(p[2])
		return "", nil, inbound.Refuse(p[1], st, "refused by the fake: "+p[1])
	}
	return "", nil, inbound.Refuse("malformed", 400, "unknown")
}

func (f *fake) Ack(_ *http.Request, body []byte) (int, string, []byte) {
	return http.StatusOK, "text/plain", []byte("ack:" + string(body))
}

func (f *fake) Fail(_ *http.Request, body []byte, msg string) (string, []byte) {
	return "text/plain", []byte("fail(" + strconv.Itoa(len(body)) + "):" + msg)
}

func newHost(t testing.TB, maxBody int64, secret string) (*Notify, *fake, *observer.ObservedLogs) {
	t.Helper()
	f := &fake{}
	core, logs := observer.New(zap.DebugLevel)
	n := &Notify{MaxBody: maxBody, UpstreamSecret: secret}
	n.UseEnv(zap.New(core), f)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := n.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	return n, f, logs
}

// backend is a next handler that records what it received.
type backend struct {
	status int
	err    error
	calls  int
	header http.Header
	body   []byte
	length int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	b.calls++
	b.header = r.Header.Clone()
	b.length = r.ContentLength
	b.body, _ = io.ReadAll(r.Body)
	if b.err != nil {
		return b.err
	}
	w.Header().Set("X-Backend", "1")
	if b.status != 0 {
		w.WriteHeader(b.status)
	}
	_, _ = w.Write([]byte(`{"ok":true}`))
	return nil
}

func serve(t testing.TB, n *Notify, next caddyhttp.Handler, method, body string, h http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/notify", strings.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	if err := n.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP returned %v", err)
	}
	return w
}

func counter(t testing.TB, kind, result string) float64 {
	var m dto.Metric
	if err := notifyCount.WithLabelValues("fake", kind, result).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A notification the provider verified reaches the backend as its event's
// JSON (no HTML escaping), with the X-Unicloud-* headers the host sets and
// none the caller sent; the provider's acknowledgement answers it.
func TestServeAccepted(t *testing.T) {
	n, _, _ := newHost(t, 0, testSecret)
	before := counter(t, "payment", "accepted")
	next := &backend{}
	w := serve(t, n, next, http.MethodPost, "ok", http.Header{"X-Unicloud-Signature": {"sha256=forged"},
		"x-unicloud-whatever": {"1"}, "Content-Encoding": {"gzip"}, "Transfer-Encoding": {"chunked"}})
	if w.Code != 200 || w.Body.String() != "ack:ok" || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Backend") != "" {
		t.Fatalf("provider got %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	want := `{"note":"<b>&","provider":"fake","type":"payment"}`
	h := next.header
	if next.calls != 1 || string(next.body) != want || next.length != int64(len(want)) || h.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Fatalf("backend got %d calls, %q (%d)", next.calls, next.body, next.length)
	}
	if h.Get("Content-Type") != "application/json" || h.Get("Content-Encoding") != "" || h.Get("X-Unicloud-Provider") != "fake" ||
		h.Get("X-Unicloud-Notify-Type") != "payment" || h.Get("x-unicloud-whatever") != "" {
		t.Errorf("backend headers %v", h)
	}
	if sig := "sha256=" + signing.HMACSHA256Hex([]byte(testSecret), []byte(want)); h.Get("X-Unicloud-Signature") != sig {
		t.Errorf("X-Unicloud-Signature %q, want %q", h.Get("X-Unicloud-Signature"), sig)
	}
	if after := counter(t, "payment", "accepted"); after != before+1 {
		t.Errorf("accepted %v → %v", before, after)
	}
	// Without upstream_secret no signature is sent, even a forged one.
	n, _, _ = newHost(t, 0, "")
	next = &backend{}
	serve(t, n, next, http.MethodPost, "ok", http.Header{"X-Unicloud-Signature": {"sha256=forged"}})
	if next.calls != 1 || next.header.Get("X-Unicloud-Signature") != "" {
		t.Fatalf("%d calls, %v", next.calls, next.header)
	}
}

// Refusals: the provider's failure form with the refusal's status, one WARN
// line naming the check, the metric, and nothing reaches the backend.
func TestServeRefused(t *testing.T) {
	for _, tc := range []struct {
		name, method, body string
		header             http.Header
		status             int
		check, answer      string
	}{
		{"method", http.MethodGet, "", nil, 405, "method", "fail(0):notification refused: method"},
		{"over max_body (Content-Length)", http.MethodPost, strings.Repeat("x", 11), nil, 413, "body_too_large", "fail(0):notification refused: body_too_large"},
		{"provider 401", http.MethodPost, "bad:signature:401", nil, 401, "signature", "fail(17):notification refused: signature"},
		{"provider 500", http.MethodPost, "bad:later:500", nil, 500, "later", "fail(13):notification not verified yet: later"},
		{"plain error", http.MethodPost, "plain error", nil, 400, "malformed", "fail(11):notification refused: malformed"},
		{"unencodable event", http.MethodPost, "unencodable", nil, 400, "malformed", "fail(11):notification refused: malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, logs := newHost(t, 10+7, "")
			if tc.check == "body_too_large" {
				n.MaxBody = 10
			}
			before := counter(t, "unknown", "refused_"+tc.check)
			next := &backend{}
			w := serve(t, n, next, tc.method, tc.body, tc.header)
			if next.calls != 0 || w.Code != tc.status || w.Body.String() != tc.answer || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %q (%d backend calls), want %d %q", w.Code, w.Body.String(), next.calls, tc.status, tc.answer)
			}
			if tc.check == "method" && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level != zap.WarnLevel || entries[0].ContextMap()["check"] != tc.check ||
				entries[0].ContextMap()["provider"] != "fake" || entries[0].ContextMap()["remote_ip"] != "192.0.2.1" {
				t.Fatalf("logs %v", entries)
			}
			if after := counter(t, "unknown", "refused_"+tc.check); after != before+1 {
				t.Errorf("refused %v → %v", before, after)
			}
		})
	}
}

// A body over max_body is refused 413 whether or not Content-Length says
// so, before the provider sees it.
func TestServeMaxBodyChunked(t *testing.T) {
	n, f, _ := newHost(t, 100, "")
	for _, cl := range []int64{-1, 50, 101} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 101)))
		r.ContentLength = cl
		w := httptest.NewRecorder()
		next := &backend{}
		_ = n.ServeHTTP(w, r, next)
		if w.Code != 413 || next.calls != 0 || f.verified != 0 {
			t.Errorf("content length %d: %d, %d calls, %d verified", cl, w.Code, next.calls, f.verified)
		}
	}
}

// The backend's status alone decides: non-2xx or an error is the failure
// form with 500; a backend that wrote nothing is net/http's 200.
func TestServeBackendFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		next caddyhttp.Handler
		want int
	}{
		{"500", &backend{status: 500}, 500},
		{"404", &backend{status: 404}, 500},
		{"302", &backend{status: 302}, 500},
		{"error", &backend{err: caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: refused"))}, 500},
		{"plain error", &backend{err: errors.New("boom")}, 500},
		{"201", &backend{status: 201}, 200},
		{"silent", caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }), 200},
		{"103 then 204", caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(103)
			w.WriteHeader(204)
			return nil
		}), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, logs := newHost(t, 0, "")
			before := counter(t, "payment", "backend_failed")
			w := serve(t, n, tc.next, http.MethodPost, "ok", nil)
			if w.Code != tc.want {
				t.Fatalf("provider got %d %q, want %d", w.Code, w.Body.String(), tc.want)
			}
			if tc.want == 500 {
				if w.Body.String() != "fail(2):backend did not accept the notification" || logs.FilterMessageSnippet("did not accept").Len() != 1 {
					t.Errorf("answer %q, logs %v", w.Body.String(), logs.All())
				}
				if after := counter(t, "payment", "backend_failed"); after != before+1 {
					t.Errorf("backend_failed %v → %v", before, after)
				}
			} else if w.Body.String() != "ack:ok" {
				t.Errorf("answer %q", w.Body.String())
			}
		})
	}
}

// A backend that answers 2xx and then breaks its body (reverse_proxy then
// aborts with http.ErrAbortHandler) has taken the notification; aborted
// before any status, it has not. Another panic is not swallowed.
func TestServeBackendBodyBroken(t *testing.T) {
	for _, tc := range []struct {
		name         string
		status, want int
	}{{"200 then abort", 200, 200}, {"204 then abort", 204, 200}, {"abort before the status", 0, 500}, {"502 then abort", 502, 500}} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, _ := newHost(t, 0, "")
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				if tc.status != 0 {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(`{"par`))
				}
				panic(http.ErrAbortHandler)
			})
			if w := serve(t, n, next, http.MethodPost, "ok", nil); w.Code != tc.want {
				t.Fatalf("provider got %d %q, want %d", w.Code, w.Body.String(), tc.want)
			}
		})
	}
	n, _, _ := newHost(t, 0, "")
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want the backend's own panic", v)
		}
	}()
	serve(t, n, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { panic("boom") }), http.MethodPost, "ok", nil)
}

// Provision loads the provider named in JSON; without one, or with an
// unknown one, it says what to write.
func TestProvisionProvider(t *testing.T) {
	for raw, want := range map[string]string{
		``:                    "provider is required: wxpay or alipay",
		`{"name":"paypal"}`:   "unicloud.notify.providers.paypal",
		`{"name":"notthere"}`: "loading the provider",
	} {
		n := &Notify{}
		if raw != "" {
			n.ProviderRaw = json.RawMessage(raw)
		}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := n.Provision(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", raw, err, want)
		}
	}
	if err := (&Notify{MaxBody: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "max_body") {
		t.Errorf("negative max_body: %v", err)
	}
}

func BenchmarkNotifyHandlerHost(b *testing.B) {
	n, _, _ := newHost(b, 0, testSecret)
	n.UseEnv(zap.NewNop(), &fake{})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader("ok"))
		w := httptest.NewRecorder()
		_ = n.ServeHTTP(w, r, next)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
