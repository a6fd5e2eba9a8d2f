// Package wxpaytest is test support for WeChat Pay APIv3: generated keys, a
// CA with a platform certificate, and GET /v3/certificates served by the
// emulator with them. Tests of several packages share it; it is not part of
// the plugin.
package wxpaytest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// Keys are a merchant's API key, a CA key and a platform key.
type Keys struct {
	Merchant, CA, Platform *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	keys     Keys
)

// TestKeys returns keys generated once per test process (RSA-2048
// generation is slow).
func TestKeys() Keys {
	keysOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&keys.Merchant, &keys.CA, &keys.Platform} {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			*k = key
		}
	})
	return keys
}

// Certificates is WeChat Pay's GET /v3/certificates, served by the emulator
// for a merchant whose platform certificate is made here: a CA and a
// platform certificate (TestKeys' Platform key, the serial asked for) made
// at start. The emulator checks each request's Authorization with the
// merchant's certificate (TestKeys' Merchant key, serial MerchantSerial),
// encrypts the answer with the APIv3 key and signs it with the platform
// key. Downloads counts the requests.
type Certificates struct {
	Server *httptest.Server
	// CAPEM and CertPEM are the CA and the platform certificate.
	CAPEM, CertPEM string
	// MerchantKeyPEM is the merchant's API private key (PKCS#8).
	MerchantKeyPEM string
	Downloads      atomic.Int32

	t        testing.TB
	opts     CertificatesOptions
	merchant emulator.WxpayV3Merchant // MchID set per emulator
	mu       sync.Mutex
	emus     map[string]*emulator.Server // mchid → its emulator
}

// CertificatesOptions say who the fake serves.
type CertificatesOptions struct {
	// MchID, when set, is the only merchant served; otherwise each mchid
	// a request names is served (with the same keys).
	MchID string
	// MerchantSerial must be the Authorization's serial_no (hex).
	MerchantSerial string
	// PlatformSerial is the platform certificate's serial (hex).
	PlatformSerial string
	APIv3Key       string
	// Delay is added to every answer.
	Delay time.Duration
}

// NewCertificates starts the fake; it stops when the test ends.
func NewCertificates(t testing.TB, opts CertificatesOptions) *Certificates {
	t.Helper()
	k := TestKeys()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Tenpay.com Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &k.CA.PublicKey, k.CA)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial, cn string, pub *rsa.PublicKey) []byte {
		sn, ok := new(big.Int).SetString(serial, 16)
		if !ok {
			t.Fatalf("serial %q is not hex", serial)
		}
		tmpl := &x509.Certificate{
			SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, k.CA)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	platformDER := issue(opts.PlatformSerial, "Tenpay.com sign", &k.Platform.PublicKey)
	merchantDER := issue(opts.MerchantSerial, "merchant", &k.Merchant.PublicKey)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(k.Merchant)
	platformKeyDER, _ := x509.MarshalPKCS8PrivateKey(k.Platform)
	f := &Certificates{
		CAPEM:          pemOf("CERTIFICATE", caDER),
		CertPEM:        pemOf("CERTIFICATE", platformDER),
		MerchantKeyPEM: pemOf("PRIVATE KEY", keyDER),
		t:              t,
		opts:           opts,
		merchant: emulator.WxpayV3Merchant{
			APIv3Key: opts.APIv3Key, MerchantKey: pemOf("CERTIFICATE", merchantDER),
			PlatformCertificate: pemOf("CERTIFICATE", platformDER), PlatformPrivateKey: pemOf("PRIVATE KEY", platformKeyDER),
		},
		emus: map[string]*emulator.Server{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

// serve hands a request to the emulator of the merchant it names and
// reports a refused Authorization as a test error.
func (f *Certificates) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v3/certificates" {
		http.NotFound(w, r)
		return
	}
	mchID := f.opts.MchID
	if mchID == "" {
		mchID = authorizationMchID(r.Header.Get("Authorization"))
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	f.emulator(mchID).ServeHTTP(sw, r)
	if sw.status == http.StatusUnauthorized || sw.status == http.StatusBadRequest {
		f.t.Errorf("fake /v3/certificates: the emulator refused the request (%d)", sw.status)
	}
}

// emulator returns the emulator serving mchID, made at its first request.
func (f *Certificates) emulator(mchID string) *emulator.Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	if emu := f.emus[mchID]; emu != nil {
		return emu
	}
	m := f.merchant
	m.MchID = mchID
	emu := emulator.New(emulator.Config{
		WxpayV3Merchants: []emulator.WxpayV3Merchant{m},
		Latency:          caddy.Duration(f.opts.Delay),
		Record: func(r *http.Request, _ []byte) {
			if r.URL.Path == "/v3/certificates" {
				f.Downloads.Add(1)
			}
		},
	})
	f.emus[mchID] = emu
	return emu
}

// authorizationMchID is the mchid="…" of an APIv3 Authorization header.
func authorizationMchID(h string) string {
	_, rest, _ := strings.Cut(h, `mchid="`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
