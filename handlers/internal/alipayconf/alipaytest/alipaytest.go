// Package alipaytest is a test PKI for the Alipay guests' certificate-mode
// tests: a root, two Alipay certificates under it (the current one and the
// next, as during a rotation) and an application certificate.
package alipaytest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// PKI is a test certificate-mode setup; texts are PEM.
type PKI struct {
	AppKey    *rsa.PrivateKey
	AppKeyPEM string // PKCS#1
	AppCert   string
	// AlipayKeys[i] signs as the certificate AlipayCerts[i], whose SN is
	// AlipaySNs[i].
	AlipayKeys  [2]*rsa.PrivateKey
	AlipayCerts [2]string
	AlipaySNs   [2]string
	RootCert    string
	// Stranger is an Alipay-like certificate under another root.
	Stranger string
}

var (
	once   sync.Once
	shared *PKI
	err    error
)

// New returns the package's PKI (generated once per test binary).
func New(t testing.TB) *PKI {
	t.Helper()
	once.Do(func() { shared, err = generate() })
	if err != nil {
		t.Fatal(err)
	}
	return shared
}

func generate() (*PKI, error) {
	keys := make([]*rsa.PrivateKey, 5)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	p := &PKI{AppKey: keys[0], AlipayKeys: [2]*rsa.PrivateKey{keys[1], keys[2]}}
	p.AppKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(keys[0])}))
	rootPEM, root, err := issue(1, "Test Alipay Root", &keys[3].PublicKey, nil, keys[3])
	if err != nil {
		return nil, err
	}
	p.RootCert = rootPEM
	for i := range 2 {
		text, c, err := issue(int64(10+i), "Alipay Test Cert", &p.AlipayKeys[i].PublicKey, root, keys[3])
		if err != nil {
			return nil, err
		}
		p.AlipayCerts[i] = text
		if p.AlipaySNs[i], err = alipay.CertSN(c); err != nil {
			return nil, err
		}
	}
	if p.AppCert, _, err = issue(20, "App", &keys[0].PublicKey, root, keys[3]); err != nil {
		return nil, err
	}
	_, other, err := issue(1, "Other Root", &keys[4].PublicKey, nil, keys[4])
	if err != nil {
		return nil, err
	}
	if p.Stranger, _, err = issue(30, "Alipay Test Cert", &keys[1].PublicKey, other, keys[4]); err != nil {
		return nil, err
	}
	return p, nil
}

// issue makes a certificate for pub signed by signer under parent (nil:
// self-signed).
func issue(serial int64, cn string, pub *rsa.PublicKey, parent *x509.Certificate, signer *rsa.PrivateKey) (string, *x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{Country: []string{"CN"}, Organization: []string{"Test"}, CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: parent == nil, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "", nil, err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), c, nil
}

// File writes text to a file of a test directory and returns the
// placeholder that reads it.
func File(t testing.TB, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return "{file." + path + "}"
}
