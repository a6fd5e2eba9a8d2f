package wxpay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/vectors"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// Test keys are 2048-bit RSA, read once per test binary from
// testdata/platform_test_keys.pem (fixed keys: generating eight keys in
// every fuzz worker would take most of a short fuzzing run).
var (
	ptKeysOnce sync.Once
	ptKeys     []*rsa.PrivateKey
	ptKeysErr  error
)

// ptKey returns the i-th test key (0..7).
func ptKey(tb testing.TB, i int) *rsa.PrivateKey {
	tb.Helper()
	ptKeysOnce.Do(func() {
		raw, err := os.ReadFile(filepath.Join("testdata", "platform_test_keys.pem"))
		if err != nil {
			ptKeysErr = err
			return
		}
		for {
			var b *pem.Block
			if b, raw = pem.Decode(raw); b == nil {
				break
			}
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				ptKeysErr = err
				return
			}
			ptKeys = append(ptKeys, k.(*rsa.PrivateKey))
		}
	})
	if ptKeysErr != nil || i >= len(ptKeys) {
		tb.Fatalf("test key %d: %v (%d keys)", i, ptKeysErr, len(ptKeys))
	}
	return ptKeys[i]
}

// Test key roles.
const (
	keyMerchant = iota
	keyCA
	keyOtherCA
	keyPlatformA
	keyPlatformB
	keyPlatformC
	keyPublicMode
)

const (
	ptMchID          = "1900009191"
	ptMerchantSerial = "3775B6A45ACD588826D15E583A95F5DD********"
	ptAPIv3Key       = "0123456789abcdef0123456789ABCDEF"
	ptPubKeyID       = "PUB_KEY_ID_0119000091912024110100000000"
)

// testCA is a generated CA standing in for "Tenpay.com Root CA".
type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
	pem  string
}

func newTestCA(tb testing.TB, keyIndex int, name string) *testCA {
	tb.Helper()
	return newTestCAAt(tb, keyIndex, name, time.Now())
}

// newTestCAAt is a test root valid from a day before at for ten years.
func newTestCAAt(tb testing.TB, keyIndex int, name string, at time.Time) *testCA {
	tb.Helper()
	key := ptKey(tb, keyIndex)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(int64(keyIndex) + 1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Tenpay.com"}},
		NotBefore:             at.Add(-24 * time.Hour),
		NotAfter:              at.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// platformCert is a generated platform certificate and its key.
type platformCert struct {
	serial string
	key    *rsa.PrivateKey
	pem    string
	cert   *x509.Certificate
}

func newPlatformCert(tb testing.TB, ca *testCA, keyIndex int, serialHex string, notBefore, notAfter time.Time) *platformCert {
	tb.Helper()
	key := ptKey(tb, keyIndex)
	sn, ok := new(big.Int).SetString(serialHex, 16)
	if !ok {
		tb.Fatalf("bad serial %s", serialHex)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "Tenpay.com sign", Organization: []string{"Tenpay.com"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &platformCert{
		serial: strings.ToUpper(serialHex), key: key, cert: cert,
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}
}

// fakeEntry is one certificate of the fake's /v3/certificates answer.
type fakeEntry struct {
	serial         string
	pem            string // encrypted by the fake, unless ciphertext is set
	ciphertext     string
	nonce          string
	associatedData string
	effective      string
	expire         string
}

func entryOf(c *platformCert) fakeEntry {
	return fakeEntry{
		serial:    c.serial,
		pem:       c.pem,
		effective: c.cert.NotBefore.Format(time.RFC3339),
		expire:    c.cert.NotAfter.Format(time.RFC3339),
	}
}

// lockSpy is a shared storage that reports each Lock call before making
// it.
type lockSpy struct {
	wxpay.PlatformStorage
	locks chan string
}

func (l *lockSpy) Lock(ctx context.Context, name string) error {
	l.locks <- name
	return l.PlatformStorage.Lock(ctx, name)
}

// autoStore is a store of the test merchant against f, downloading.
func autoStore(tb testing.TB, f *wxpayFake, root *x509.CertPool) *wxpay.PlatformStore {
	tb.Helper()
	s := wxpay.NewPlatformStore(f.srv.URL, ptMchID)
	if _, err := s.Register(wxpay.PlatformRegistration{Auto: &wxpay.PlatformAuto{
		SerialNo: ptMerchantSerial, PrivateKey: ptKey(tb, keyMerchant), APIv3Key: ptAPIv3Key,
		Root: root, HTTP: f.srv.Client(),
	}}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// platformVectorsDir finds shared/vectors beside the repository
// (UNICLOUD_VECTORS overrides it).
func platformVectorsDir(tb testing.TB) string {
	tb.Helper()
	return vectors.MustDir(tb)
}

// fakeTimers replaces a store's background timer: the test sees each wait
// the refresh loop asks for and fires it itself, and learns when the loop
// stopped. Nothing waits on the real clock.
type fakeTimers struct {
	tb      testing.TB
	ctx     context.Context
	asked   chan fakeTimer
	pending *fakeTimer
	done    chan struct{}
	events  chan string
}

// fakeTimer is one wait the loop asked for and the channel that ends it.
type fakeTimer struct {
	d    time.Duration
	fire chan time.Time
}

// newFakeTimers installs fake timers in s, before s.Start(ctx), and
// records s's download results (Events.Download).
func newFakeTimers(tb testing.TB, ctx context.Context, s *wxpay.PlatformStore) *fakeTimers {
	ft := &fakeTimers{tb: tb, ctx: ctx, asked: make(chan fakeTimer), done: make(chan struct{}), events: make(chan string, 16)}
	wxpay.SetPlatformTimer(s, func(d time.Duration) (<-chan time.Time, func()) {
		t := fakeTimer{d: d, fire: make(chan time.Time, 1)}
		select {
		case ft.asked <- t:
		case <-ctx.Done():
		}
		return t.fire, func() {}
	})
	wxpay.OnPlatformRunDone(s, func() { close(ft.done) })
	s.Events.Download = func(result string, _ error) { ft.events <- result }
	return ft
}

// next is the next wait the loop asks for.
func (ft *fakeTimers) next() fakeTimer {
	ft.tb.Helper()
	if ft.pending != nil {
		t := *ft.pending
		ft.pending = nil
		return t
	}
	select {
	case t := <-ft.asked:
		return t
	case <-time.After(10 * time.Second): // failsafe only
		ft.tb.Fatal("the background refresh asks for no timer")
		return fakeTimer{}
	}
}

// wait is the wait the loop is blocked on now (a registration change may
// make it ask again before a timer fires: the latest one counts).
func (ft *fakeTimers) wait() time.Duration {
	ft.tb.Helper()
	t := ft.next()
	ft.pending = &t
	return t.d
}

// tick fires the loop's timer and waits for the download it starts: the
// wait it had asked for and the download's result ("ok" or "error").
func (ft *fakeTimers) tick() (time.Duration, string) {
	ft.tb.Helper()
	t := ft.next()
	for {
		t.fire <- time.Time{}
		select {
		case r := <-ft.events:
			return t.d, r
		case t2 := <-ft.asked:
			// Woken by something else before the tick, or already back
			// from the download: a result already sent wins.
			select {
			case r := <-ft.events:
				ft.pending = &t2
				return t.d, r
			default:
			}
			t = t2
		case <-time.After(10 * time.Second): // failsafe only
			ft.tb.Fatal("a fired timer starts no download")
		}
	}
}

// stopped waits until the background refresh has returned.
func (ft *fakeTimers) stopped() {
	ft.tb.Helper()
	select {
	case <-ft.done:
	case <-time.After(10 * time.Second): // failsafe only
		ft.tb.Fatal("the background refresh does not stop with its context")
	}
}
