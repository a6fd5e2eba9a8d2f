package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/signing"
)

// Certificate mode (公钥证书模式) of the emulated Alipay gateway: with
// Config.AlipayTestPKI, the emulator keeps a test PKI in that directory —
// a root bundle, an "Alipay" certificate with its key and an application
// certificate for each test app's public key — written as the files
// Alipay's console hands out, so a gateway's app_cert, alipay_cert and
// alipay_root_cert can point at them. Every request must then carry the
// app's app_cert_sn and the bundle's alipay_root_cert_sn, and every answer
// names alipay_cert_sn and is signed with the Alipay certificate's key.
// The SNs are computed here, independently of the gateway's code.

// The files of the test PKI.
const (
	AlipayRootCertFile   = "alipayRootCert.crt"
	AlipayCertFile       = "alipayCertPublicKey_RSA2.crt"
	alipayCertKeyFile    = "emulator_alipay_private_key.pem"
	alipayIssuerKeyFile  = "emulator_issuer_private_key.pem"
	alipayAppCertPattern = "appCertPublicKey_%s.crt"
)

// AlipayAppCertFile is the name of the application certificate of appID
// in the test PKI directory.
func AlipayAppCertFile(appID string) string { return fmt.Sprintf(alipayAppCertPattern, appID) }

// aliPKI is a loaded test PKI.
type aliPKI struct {
	rootSN    string            // alipay_root_cert_sn of the bundle
	alipayKey *rsa.PrivateKey   // signs answers and notifications
	alipaySN  string            // alipay_cert_sn
	appSNs    map[string]string // app_id → app_cert_sn
}

// pkiMu serialises the writers of PKI directories (the Caddyfile adapter
// and the handler may both prepare the same one).
var pkiMu sync.Mutex

// EnsureAlipayTestPKI prepares the test PKI of dir for apps: it generates
// the root bundle, the Alipay certificate and their keys when dir holds no
// bundle yet (creating dir), and issues the certificate of each app whose
// file is missing or certifies another key. The Caddyfile adapter calls it,
// so that the files exist before the gateway's {file.…} placeholders read
// them; the handler calls it again when it starts.
func EnsureAlipayTestPKI(dir string, apps []AlipayApp) error {
	_, err := ensureAlipayPKI(dir, apps)
	return err
}

func ensureAlipayPKI(dir string, apps []AlipayApp) (*aliPKI, error) {
	pkiMu.Lock()
	defer pkiMu.Unlock()
	if dir == "" {
		return nil, errors.New("alipay_test_pki: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("alipay_test_pki: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, AlipayRootCertFile)); errors.Is(err, os.ErrNotExist) {
		if err := generateAlipayPKI(dir); err != nil {
			return nil, fmt.Errorf("alipay_test_pki: %w", err)
		}
	}
	p, issuer, issuerKey, err := loadAlipayPKI(dir)
	if err != nil {
		return nil, fmt.Errorf("alipay_test_pki %s: %w (remove the directory to start a new test PKI)", dir, err)
	}
	repl := caddy.NewReplacer()
	for _, a := range apps {
		id := strings.TrimSpace(repl.ReplaceAll(a.AppID, ""))
		pub, err := signing.ParseRSAPublicKey(repl.ReplaceAll(a.AppPublicKey, ""))
		if err != nil {
			continue // the app's calls fail with its own error
		}
		sn, err := appCert(dir, id, pub, issuer, issuerKey)
		if err != nil {
			return nil, fmt.Errorf("alipay_test_pki: app %s: %w", id, err)
		}
		p.appSNs[id] = sn
	}
	return p, nil
}

// generateAlipayPKI writes a new root bundle (an RSA root and, as in
// Alipay's bundle, an entry that is not RSA-signed), an issuing
// certificate under the root, and the Alipay certificate it issues.
func generateAlipayPKI(dir string) error {
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	root, err := pkiIssue(pkiName("Emulator Alipay Root CA"), &rootKey.PublicKey, nil, rootKey, true)
	if err != nil {
		return err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ecRoot, err := pkiIssue(pkiName("Emulator Alipay Root CA E1"), &ecKey.PublicKey, nil, ecKey, true)
	if err != nil {
		return err
	}
	issuerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	issuer, err := pkiIssue(pkiName("Emulator Alipay Certification Authority Class 2"), &issuerKey.PublicKey, root, rootKey, true)
	if err != nil {
		return err
	}
	alipayKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	leafName := pkix.Name{Country: []string{"CN"}, Organization: []string{"unicloud emulator"}, OrganizationalUnit: []string{"Alipay.com"}, CommonName: "支付宝(中国)网络技术有限公司"}
	leaf, err := pkiIssue(leafName, &alipayKey.PublicKey, issuer, issuerKey, false)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		text []byte
	}{
		{alipayCertKeyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(alipayKey)})},
		{alipayIssuerKeyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(issuerKey)})},
		{AlipayCertFile, append(certPEM(leaf), certPEM(issuer)...)},
		// The bundle last: its presence says the PKI is complete.
		{AlipayRootCertFile, append(certPEM(root), certPEM(ecRoot)...)},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.text, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pkiName(cn string) pkix.Name {
	return pkix.Name{Country: []string{"CN"}, Organization: []string{"unicloud emulator"}, OrganizationalUnit: []string{"Certification Authority"}, CommonName: cn}
}

// pkiIssue makes a certificate of subject for pub, signed by signer under
// parent (nil: self-signed), with a serial beyond 64 bits as Alipay's.
func pkiIssue(subject pkix.Name, pub any, parent *x509.Certificate, signer any, ca bool) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, new(big.Int).Lsh(big.NewInt(1), 100)), Subject: subject,
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		BasicConstraintsValid: true, IsCA: ca, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// readCerts reads the certificates of a PEM file, skipping what cannot be
// parsed.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", filepath.Base(path))
	}
	return out, nil
}

func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return signing.ParseRSAPrivateKey(string(b))
}

// loadAlipayPKI reads the PKI of dir; it also returns the issuing
// certificate and key, which issue the app certificates.
func loadAlipayPKI(dir string) (*aliPKI, *x509.Certificate, *rsa.PrivateKey, error) {
	bundle, err := readCerts(filepath.Join(dir, AlipayRootCertFile))
	if err != nil {
		return nil, nil, nil, err
	}
	rootSN := emuRootSN(bundle)
	if rootSN == "" {
		return nil, nil, nil, errors.New(AlipayRootCertFile + " has no RSA-signed certificate")
	}
	chain, err := readCerts(filepath.Join(dir, AlipayCertFile))
	if err != nil {
		return nil, nil, nil, err
	}
	if len(chain) < 2 {
		return nil, nil, nil, errors.New(AlipayCertFile + " lacks its issuing certificate")
	}
	key, err := readKey(filepath.Join(dir, alipayCertKeyFile))
	if err != nil {
		return nil, nil, nil, err
	}
	if pub, ok := chain[0].PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, nil, errors.New(alipayCertKeyFile + " is not the key of " + AlipayCertFile)
	}
	issuerKey, err := readKey(filepath.Join(dir, alipayIssuerKeyFile))
	if err != nil {
		return nil, nil, nil, err
	}
	p := &aliPKI{rootSN: rootSN, alipayKey: key, alipaySN: emuCertSN(chain[0]), appSNs: map[string]string{}}
	return p, chain[1], issuerKey, nil
}

// emuRootSN is alipay_root_cert_sn of a bundle: the SNs of its
// RSA-signed certificates (by the name of their signature algorithm), in
// order, joined by "_"; "" when there is none.
func emuRootSN(bundle []*x509.Certificate) string {
	var sns []string
	for _, c := range bundle {
		switch c.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA:
			sns = append(sns, emuCertSN(c))
		}
	}
	return strings.Join(sns, "_")
}

// appCert returns the app_cert_sn of appID's certificate in dir, issuing
// (and writing) one for pub when the file is missing or certifies another
// key.
func appCert(dir, appID string, pub *rsa.PublicKey, issuer *x509.Certificate, issuerKey *rsa.PrivateKey) (string, error) {
	if strings.ContainsAny(appID, `/\`) || appID == "" || appID == "." || appID == ".." {
		return "", errors.New("unusable app_id for a file name")
	}
	path := filepath.Join(dir, AlipayAppCertFile(appID))
	if certs, err := readCerts(path); err == nil {
		if k, ok := certs[0].PublicKey.(*rsa.PublicKey); ok && k.Equal(pub) {
			return emuCertSN(certs[0]), nil
		}
	}
	name := pkix.Name{Country: []string{"CN"}, Organization: []string{"unicloud emulator test app"}, OrganizationalUnit: []string{"Alipay.com"}, CommonName: appID}
	c, err := pkiIssue(name, pub, issuer, issuerKey, false)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(certPEM(c), certPEM(issuer)...), 0o600); err != nil {
		return "", err
	}
	return emuCertSN(c), nil
}

// emuShortNames are the attribute names Java's X500Principal (RFC 2253)
// writes by name.
var emuShortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET",
	"2.5.4.10": "O", "2.5.4.11": "OU", "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
}

// emuCertSN is Alipay's SN of a certificate: md5 hex of the issuer name as
// RFC 2253 writes it (last relative name first, "SHORT=value" joined by
// ",") followed by the serial in base 10. The emulator's certificates use
// plain values (no character RFC 2253 escapes).
func emuCertSN(c *x509.Certificate) string {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(c.RawIssuer, &rdns); err != nil {
		return ""
	}
	parts := make([]string, 0, len(rdns))
	for i := len(rdns) - 1; i >= 0; i-- {
		atvs := make([]string, 0, len(rdns[i]))
		for _, atv := range rdns[i] {
			name, ok := emuShortNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			atvs = append(atvs, fmt.Sprintf("%s=%v", name, atv.Value))
		}
		parts = append(parts, strings.Join(atvs, "+"))
	}
	sum := md5.Sum([]byte(strings.Join(parts, ",") + c.SerialNumber.Text(10)))
	return hex.EncodeToString(sum[:])
}

// checkCertSNs refuses, as Alipay does, a certificate-mode request whose
// app_cert_sn is not its app's certificate or whose alipay_root_cert_sn is
// not the bundle's.
func (x *alipayEmu) checkCertSNs(c *aliCall) bool {
	appSN, rootSN := c.params["app_cert_sn"], c.params["alipay_root_cert_sn"]
	switch {
	case appSN == "":
		c.refuse("40001", "Missing Required Arguments", "isv.missing-app-cert-sn", "缺少应用公钥证书序列号")
	case appSN != x.pki.appSNs[c.app.id]:
		c.refuse("40002", "Invalid Arguments", "isv.app-cert-not-exist", "应用公钥证书不存在")
	case rootSN == "":
		c.refuse("40001", "Missing Required Arguments", "isv.missing-alipay-root-cert-sn", "缺少支付宝根证书序列号")
	case rootSN != x.pki.rootSN:
		c.refuse("40002", "Invalid Arguments", "isv.invalid-alipay-root-cert-sn", "无效支付宝根证书序列号")
	default:
		return true
	}
	return false
}
