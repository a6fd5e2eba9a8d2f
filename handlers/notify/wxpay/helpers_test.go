package wxpay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers/notify"
)

// The guest satisfies the host's interface without importing it.
var _ notify.Provider = (*Wxpay)(nil)

const (
	notifyTestAppID  = "wx8888888888888888"
	notifyTestMchID  = "1900000109"
	notifyTestV2Key  = "192006250b4c09247ec02edce69f6a2d"
	notifyTestV3Key  = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
	notifyTestSerial = "3775B6A45ACD588826D15E583A95F5DD********"
	notifyTestSecret = "backend-hmac-secret"
)

var (
	notifyKeyOnce sync.Once
	notifyKey     *rsa.PrivateKey
)

// notifyTestKey is the RSA key standing in for the WeChat Pay platform key.
func notifyTestKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	notifyKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		notifyKey = k
	})
	return notifyKey
}

func notifyTestPubPEM(t testing.TB) string {
	der, err := x509.MarshalPKIXPublicKey(&notifyTestKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func notifyTestOrder() emulator.NotifyOrder {
	return emulator.NotifyOrder{AppID: notifyTestAppID, MchID: notifyTestMchID, OutTradeNo: "ORDER-1",
		TransactionID: "4200000000000000001", TotalFee: 100, CashFee: 90, OpenID: "oUser1",
		Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), OutRefundNo: "REFUND-1", RefundID: "5000001", RefundFee: 40}
}

func notifyTestSigner(t testing.TB) emulator.WxpayV3NotifySigner {
	return emulator.WxpayV3NotifySigner{PlatformKey: notifyTestKey(t), Serial: notifyTestSerial, APIv3Key: notifyTestV3Key}
}

// handler is the host with this provider, both provisioned; the embedded
// fields let tests read either's configuration.
type handler struct {
	*notify.Notify
	*Wxpay
}

// provisionNotify provisions g, and a host (upstream_secret set) that
// uses it; both log to what the test reads.
func provisionNotify(t testing.TB, g *Wxpay) (*handler, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	g.logger = zap.New(core)
	if err := g.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	n := &notify.Notify{UpstreamSecret: notifyTestSecret}
	n.UseEnv(zap.New(core), g)
	if err := n.Provision(ctx); err != nil {
		t.Fatalf("provision the host: %v", err)
	}
	return &handler{n, g}, logs
}

func wxpayNotify(t testing.TB) *Wxpay {
	return &Wxpay{AppID: notifyTestAppID, MchID: notifyTestMchID, Key: notifyTestV2Key,
		Endpoint: notifyTestWxpay().srv.URL, APIv3Key: notifyTestV3Key,
		PlatformKeys: []PlatformKey{{Serial: notifyTestSerial, Key: notifyTestPubPEM(t)}}}
}

// recordingNext is a next handler that records what it received and
// answers status.
type recordingNext struct {
	status int
	err    error
	calls  int
	header http.Header
	body   []byte
	method string
	path   string
	length int64
}

func (rn *recordingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rn.calls++
	rn.header = r.Header.Clone()
	rn.method, rn.path, rn.length = r.Method, r.URL.Path, r.ContentLength
	rn.body, _ = io.ReadAll(r.Body)
	if rn.err != nil {
		return rn.err
	}
	w.Header().Set("X-Backend", "1")
	if rn.status != 0 {
		w.WriteHeader(rn.status)
	}
	_, _ = w.Write([]byte(`{"ok":true}`))
	return nil
}

func serveNotify(t testing.TB, n *handler, next caddyhttp.Handler, m *emulator.NotifyMessage, extra http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/notify/x?q=1", bytes.NewReader(m.Body))
	for k, v := range m.Header {
		r.Header[k] = v
	}
	for k, v := range extra {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	if err := n.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP returned %v", err)
	}
	return w
}

const (
	v2Success = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
	v2Fail    = "<xml><return_code><![CDATA[FAIL]]></return_code>"
)
