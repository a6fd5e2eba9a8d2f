// Package wxpaytest is test support for WeChat Pay APIv3: generated keys, a
// CA with a platform certificate, and a stand-in for GET /v3/certificates.
// Tests of several packages share it; it is not part of the plugin.
package wxpaytest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
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

// Certificates stands in for WeChat Pay's GET /v3/certificates: a CA and a
// platform certificate made at start; each request's Authorization is
// checked against the merchant's public key, the answer encrypted with the
// APIv3 key and signed with the platform key, and downloads counted.
type Certificates struct {
	Server *httptest.Server
	// CAPEM and CertPEM are the CA and the platform certificate.
	CAPEM, CertPEM string
	// MerchantKeyPEM is the merchant's API private key (PKCS#8).
	MerchantKeyPEM string
	Downloads      atomic.Int32

	opts CertificatesOptions
}

// CertificatesOptions say who the fake serves.
type CertificatesOptions struct {
	// MchID, when set, must be the Authorization's mchid.
	MchID string
	// MerchantSerial must be the Authorization's serial_no.
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
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Tenpay.com Root CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &k.CA.PublicKey, k.CA)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	sn, ok := new(big.Int).SetString(opts.PlatformSerial, 16)
	if !ok {
		t.Fatalf("platform serial %q is not hex", opts.PlatformSerial)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "Tenpay.com sign"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.Platform.PublicKey, k.CA)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(k.Merchant)
	f := &Certificates{
		CAPEM:          string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		CertPEM:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		MerchantKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		opts:           opts,
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v3/certificates" {
			http.NotFound(w, r)
			return
		}
		f.Downloads.Add(1)
		if !AuthorizationOK(r, &k.Merchant.PublicKey, opts.MchID, opts.MerchantSerial) {
			t.Errorf("fake /v3/certificates: bad Authorization")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		time.Sleep(opts.Delay)
		nonce := signing.NonceStr()[:12]
		ct, _ := signing.EncryptAEADAES256GCM(opts.APIv3Key, "certificate", nonce, []byte(f.CertPEM))
		body, _ := json.Marshal(map[string]any{"data": []any{map[string]any{
			"serial_no": opts.PlatformSerial, "effective_time": tmpl.NotBefore.Format(time.RFC3339),
			"expire_time": tmpl.NotAfter.Format(time.RFC3339),
			"encrypt_certificate": map[string]string{"algorithm": "AEAD_AES_256_GCM", "nonce": nonce,
				"associated_data": "certificate", "ciphertext": ct},
		}}})
		ts, hn := strconv.FormatInt(time.Now().Unix(), 10), signing.NonceStr()
		sig, _ := signing.RSASHA256Sign(k.Platform, signing.WxpayV3VerifyMessage(ts, hn, body))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Wechatpay-Serial", opts.PlatformSerial)
		w.Header().Set("Wechatpay-Timestamp", ts)
		w.Header().Set("Wechatpay-Nonce", hn)
		w.Header().Set("Wechatpay-Signature", sig)
		_, _ = w.Write(body)
	}))
	t.Cleanup(f.Server.Close)
	return f
}

// AuthorizationOK checks a GET's WECHATPAY2-SHA256-RSA2048 Authorization
// header with the merchant's public key; mchID is checked when not empty.
func AuthorizationOK(r *http.Request, pub *rsa.PublicKey, mchID, serialNo string) bool {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "WECHATPAY2-SHA256-RSA2048 ")
	if !ok {
		return false
	}
	p := map[string]string{}
	for _, kv := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(kv, "=")
		p[k] = strings.Trim(v, `"`)
	}
	sig, err := base64.StdEncoding.DecodeString(p["signature"])
	if err != nil || p["serial_no"] != serialNo || (mchID != "" && p["mchid"] != mchID) {
		return false
	}
	sum := sha256.Sum256([]byte(signing.WxpayV3Message(r.Method, r.URL.RequestURI(), p["timestamp"], p["nonce_str"], "")))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}
