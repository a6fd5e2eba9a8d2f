package alipay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers/notify"
	"github.com/caddy-unicloud/unicloud/signing"
)

// The guest satisfies the host's interface without importing it.
var _ notify.Provider = (*Alipay)(nil)

const (
	testAppID  = "2021000117650139"
	testSecret = "backend-hmac-secret"
)

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

// testKey stands in for Alipay's key.
func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		key = k
	})
	return key
}

func testPubPEM(t testing.TB) string {
	der, err := x509.MarshalPKIXPublicKey(&testKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func testOrder() emulator.NotifyOrder {
	return emulator.NotifyOrder{AppID: testAppID, OutTradeNo: "ORDER-1", TransactionID: "4200000000000000001",
		TotalFee: 100, CashFee: 90, OpenID: "oUser1", Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		OutRefundNo: "REFUND-1", RefundID: "5000001", RefundFee: 40}
}

// newHandler provisions the host with this provider from JSON, as a
// Caddy config does.
func newHandler(t testing.TB) (*notify.Notify, *observer.ObservedLogs) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"name": "alipay", "app_id": testAppID, "alipay_public_key": testPubPEM(t)})
	n := &notify.Notify{ProviderRaw: raw, UpstreamSecret: testSecret}
	core, logs := observer.New(zap.DebugLevel)
	n.UseEnv(zap.New(core), nil)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := n.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	return n, logs
}

type recordingNext struct {
	status int
	err    error
	calls  int
	header http.Header
	body   []byte
}

func (rn *recordingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rn.calls++
	rn.header = r.Header.Clone()
	rn.body, _ = io.ReadAll(r.Body)
	if rn.err != nil {
		return rn.err
	}
	if rn.status != 0 {
		w.WriteHeader(rn.status)
	}
	return nil
}

func serve(t testing.TB, n *notify.Notify, next caddyhttp.Handler, m *emulator.NotifyMessage) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/notify/alipay", bytes.NewReader(m.Body))
	for k, v := range m.Header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	if err := n.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestNotifyAccepted(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		name, kind string
		build      func() (*emulator.NotifyMessage, error)
		want       map[string]any
	}{
		{"trade", "payment", func() (*emulator.NotifyMessage, error) { return emulator.AlipayTradeNotification(testOrder(), k) },
			map[string]any{"outTradeNo": "ORDER-1", "transactionId": "4200000000000000001", "totalFee": 100.0, "tradeState": "SUCCESS"}},
		{"refund", "refund", func() (*emulator.NotifyMessage, error) { return emulator.AlipayRefundNotification(testOrder(), k) },
			map[string]any{"outTradeNo": "ORDER-1", "transactionId": "4200000000000000001", "outRefundNo": "REFUND-1",
				"totalFee": 100.0, "refundFee": 40.0, "refundStatus": "SUCCESS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := newHandler(t)
			m, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			next := &recordingNext{}
			w := serve(t, n, next, m)
			if w.Code != 200 || w.Body.String() != "success" || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("provider got %d %q", w.Code, w.Body.String())
			}
			h := next.header
			if next.calls != 1 || h.Get("X-Unicloud-Provider") != "alipay" || h.Get("X-Unicloud-Notify-Type") != tc.kind ||
				h.Get("X-Unicloud-Signature") != "sha256="+signing.HMACSHA256Hex([]byte(testSecret), next.body) {
				t.Fatalf("backend: %d calls, %v", next.calls, h)
			}
			var ev map[string]any
			if err := json.Unmarshal(next.body, &ev); err != nil {
				t.Fatalf("%v: %s", err, next.body)
			}
			if ev["provider"] != "alipay" || ev["type"] != tc.kind {
				t.Errorf("event %s", next.body)
			}
			for k, v := range tc.want {
				if ev[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, ev[k], v, next.body)
				}
			}
		})
	}
}

func TestNotifyRefused(t *testing.T) {
	k := testKey(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	must := func(m *emulator.NotifyMessage, err error) *emulator.NotifyMessage {
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tampered := must(emulator.AlipayTradeNotification(testOrder(), k))
	if !bytes.Contains(tampered.Body, []byte("total_amount=1.00")) {
		t.Fatalf("no total_amount in %s", tampered.Body)
	}
	tampered.Body = bytes.Replace(tampered.Body, []byte("total_amount=1.00"), []byte("total_amount=0.01"), 1)
	wrongApp := testOrder()
	wrongApp.AppID = "2021000000000000"
	for _, tc := range []struct {
		name   string
		m      *emulator.NotifyMessage
		status int
		check  string
	}{
		{"tampered", tampered, 401, "signature"},
		{"wrong key", must(emulator.AlipayTradeNotification(testOrder(), other)), 401, "signature"},
		{"wrong app", must(emulator.AlipayTradeNotification(wrongApp, k)), 401, "merchant"},
		{"missing sign", &emulator.NotifyMessage{Header: http.Header{}, Body: []byte("out_trade_no=1&total_amount=1.00")}, 401, "signature"},
		{"garbage", &emulator.NotifyMessage{Header: http.Header{}, Body: []byte("%zz")}, 400, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, logs := newHandler(t)
			next := &recordingNext{}
			w := serve(t, n, next, tc.m)
			if next.calls != 0 || w.Code != tc.status || w.Body.String() != "fail" {
				t.Fatalf("got %d %q (%d backend calls), want %d fail", w.Code, w.Body.String(), next.calls, tc.status)
			}
			if e := logs.All(); len(e) != 1 || e[0].ContextMap()["check"] != tc.check || e[0].ContextMap()["provider"] != "alipay" {
				t.Fatalf("logs %v", e)
			}
		})
	}
}

// The backend's failure is answered "fail" with 500, so Alipay retries.
func TestNotifyBackendFailed(t *testing.T) {
	for name, next := range map[string]*recordingNext{"500": {status: 500}, "error": {err: errors.New("boom")}} {
		n, _ := newHandler(t)
		w := serve(t, n, next, must(t)(emulator.AlipayTradeNotification(testOrder(), testKey(t))))
		if w.Code != 500 || w.Body.String() != "fail" {
			t.Errorf("%s: got %d %q", name, w.Code, w.Body.String())
		}
	}
}

func must(t *testing.T) func(*emulator.NotifyMessage, error) *emulator.NotifyMessage {
	return func(m *emulator.NotifyMessage, err error) *emulator.NotifyMessage {
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func TestProvisionValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		a    Alipay
		want string
	}{
		"no key":      {Alipay{}, "alipay_public_key (or alipay_cert, in certificate mode) is required"},
		"bad key":     {Alipay{AlipayPublicKey: "not-a-key-SECRETISH"}, "alipay_public_key"},
		"unset env":   {Alipay{AlipayPublicKey: "{env.NOTIFY_TEST_UNSET_VARIABLE}"}, "resolved to an empty value"},
		"app_id only": {Alipay{AppID: testAppID}, "alipay_public_key (or alipay_cert, in certificate mode) is required"},
	} {
		a := tc.a
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := a.Provision(ctx)
		if err == nil {
			err = a.Validate()
		}
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "SECRETISH") {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func BenchmarkNotifyHandler(b *testing.B) {
	b.Run("alipay-rsa2", func(b *testing.B) {
		n, _ := newHandler(b)
		n.UseEnv(zap.NewNop(), nil)
		m, err := emulator.AlipayTradeNotification(testOrder(), testKey(b))
		if err != nil {
			b.Fatal(err)
		}
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(m.Body))
			for k, v := range m.Header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			_ = n.ServeHTTP(w, r, next)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body.String())
			}
		}
	})
}
