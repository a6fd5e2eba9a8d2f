package alipay_test

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
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// The test PKI mirrors Alipay's: a root bundle holding an EC root (not
// counted in alipay_root_cert_sn), an entry crypto/x509 cannot parse (as
// Alipay's SM2 root), and two RSA roots; an intermediate under the first RSA
// root; the app's certificate and two Alipay certificates (the current one
// and the next) under the intermediate. Names are encoded C, O, OU, CN, as
// Alipay's are, so the SN's issuer string (CN first) is their reverse.

// Issuer strings written by hand, as Alipay's SDKs build them.
const (
	testRootDN  = "CN=Test Root CA R1,OU=Certification Authority,O=Test Financial,C=CN"
	testRoot2DN = "CN=Test Root CA R2,O=Test Financial,C=CN"
	testInterDN = "CN=Test Financial Class 2 R1,OU=Certification Authority,O=Test Financial,C=CN"
)

// Serials beyond 64 bits, in hex (for the certificates) and the same
// numbers in base 10 written by hand (for the expected SNs).
const (
	rootSerialHex   = "2a17f8f3c5e4b8a1d9"
	rootSerialDec   = "776490649584169165273"
	root2SerialHex  = "0f"
	root2SerialDec  = "15"
	appSerialHex    = "2021062400a1b2c3d4e5f6"
	appSerialDec    = "38841577596318448667125238"
	alipaySerialHex = "1f00000000000000000001"
	alipaySerialDec = "37476700408053504415891457"
	nextSerialHex   = "1f00000000000000000002"
	nextSerialDec   = "37476700408053504415891458"
)

// hexSN is md5(issuer + serial) in lowercase hex, the SN's definition.
func hexSN(issuer, serialDec string) string {
	sum := md5.Sum([]byte(issuer + serialDec))
	return hex.EncodeToString(sum[:])
}

type testPKI struct {
	bundle     string // the root bundle
	otherRoot  string // a root that signs nothing here
	appKey     *rsa.PrivateKey
	appCert    string // app leaf + intermediate
	alipayKey  *rsa.PrivateKey
	alipayCert string // Alipay leaf + intermediate
	nextKey    *rsa.PrivateKey
	nextCert   string // Alipay's next certificate + intermediate
	notAfter   time.Time
	forged     string // an Alipay certificate under a forged intermediate
}

var pkiOnce struct {
	once sync.Once
	pki  *testPKI
}

// rawName encodes a name with its attributes in the given order.
func rawName(tb testing.TB, attrs ...string) []byte {
	tb.Helper()
	oids := map[string]asn1.ObjectIdentifier{"C": {2, 5, 4, 6}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11}, "CN": {2, 5, 4, 3}}
	var seq pkix.RDNSequence
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oids[k], Value: v}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func serial(tb testing.TB, h string) *big.Int {
	n, ok := new(big.Int).SetString(h, 16)
	if !ok {
		tb.Fatal("bad serial", h)
	}
	return n
}

func rsaKey(tb testing.TB, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func certPEM(der ...[]byte) string {
	var b strings.Builder
	for _, d := range der {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d}))
	}
	return b.String()
}

var (
	pkiNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	pkiNotAfter  = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	pkiNow       = func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }
)

// mkCert issues a certificate for pub with subject, signed by signer under
// parent (nil parent: self-signed). A certificate that is not ca has, as
// Alipay's intermediates and leaves, no basic constraints and no certSign
// key usage.
func mkCert(tb testing.TB, serialHex string, subject []byte, ca bool, pub any, parent *x509.Certificate, signer any) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb, serialHex),
		RawSubject:            subject,
		NotBefore:             pkiNotBefore,
		NotAfter:              pkiNotAfter,
		BasicConstraintsValid: ca,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func newPKI(tb testing.TB) *testPKI {
	tb.Helper()
	pkiOnce.once.Do(func() {
		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		ecRoot := mkCert(tb, "01", rawName(tb, "C=CN", "O=Test Financial", "CN=Test Root CA E1"), true, &ecKey.PublicKey, nil, ecKey)
		rootKey, root2Key, interKey := rsaKey(tb, 1024), rsaKey(tb, 1024), rsaKey(tb, 1024)
		root := mkCert(tb, rootSerialHex, rawName(tb, "C=CN", "O=Test Financial", "OU=Certification Authority", "CN=Test Root CA R1"), true, &rootKey.PublicKey, nil, rootKey)
		root2 := mkCert(tb, root2SerialHex, rawName(tb, "C=CN", "O=Test Financial", "CN=Test Root CA R2"), true, &root2Key.PublicKey, nil, root2Key)
		// The intermediate is not marked a CA, as the one of Alipay's sandbox is not
		// (crypto/x509's Verify refuses such a chain).
		interName := rawName(tb, "C=CN", "O=Test Financial", "OU=Certification Authority", "CN=Test Financial Class 2 R1")
		inter := mkCert(tb, "1234", interName, false, &interKey.PublicKey, root, rootKey)
		appKey, _ := payKeys(tb)
		ali, _ := alipayKeys(tb)
		next := rsaKey(tb, 2048)
		app := mkCert(tb, appSerialHex, rawName(tb, "C=CN", "O=Test App", "CN=2021000117600000"), false, &appKey.PublicKey, inter, interKey)
		aliCert := mkCert(tb, alipaySerialHex, rawName(tb, "C=CN", "O=Test Financial", "CN=Alipay Public Key"), false, &ali.PublicKey, inter, interKey)
		nextCert := otherLeaf(tb, nextSerialHex, &next.PublicKey, inter, interKey)
		// A forged intermediate: the same names, under a forged root of the
		// same name as the real one.
		forgedKey := rsaKey(tb, 1024)
		forgedRoot := mkCert(tb, rootSerialHex, rawName(tb, "C=CN", "O=Test Financial", "OU=Certification Authority", "CN=Test Root CA R1"), true, &forgedKey.PublicKey, nil, forgedKey)
		forgedInter := mkCert(tb, "1234", interName, false, &forgedKey.PublicKey, forgedRoot, forgedKey)
		forgedLeaf := mkCert(tb, alipaySerialHex, rawName(tb, "C=CN", "O=Test Financial", "CN=Alipay Public Key"), false, &ali.PublicKey, forgedInter, forgedKey)
		otherKey := rsaKey(tb, 1024)
		other := mkCert(tb, "99", rawName(tb, "C=CN", "CN=Other Root"), true, &otherKey.PublicKey, nil, otherKey)
		sm2 := "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n" // not a certificate crypto/x509 reads
		pkiOnce.pki = &testPKI{
			bundle:     certPEM(ecRoot.Raw) + sm2 + certPEM(root.Raw, root2.Raw),
			otherRoot:  certPEM(other.Raw),
			appKey:     appKey,
			appCert:    certPEM(app.Raw, inter.Raw),
			alipayKey:  ali,
			alipayCert: certPEM(aliCert.Raw, inter.Raw),
			nextKey:    next,
			nextCert:   certPEM(nextCert.Raw, inter.Raw),
			notAfter:   pkiNotAfter,
			forged:     certPEM(forgedLeaf.Raw, forgedInter.Raw),
		}
	})
	if pkiOnce.pki == nil {
		tb.Fatal("test PKI not built")
	}
	return pkiOnce.pki
}

func otherLeaf(tb testing.TB, serialHex string, pub *rsa.PublicKey, inter *x509.Certificate, interKey *rsa.PrivateKey) *x509.Certificate {
	return mkCert(tb, serialHex, rawName(tb, "C=CN", "O=Test Financial", "CN=Alipay Public Key Next"), false, pub, inter, interKey)
}

func firstCert(tb testing.TB, text string) *x509.Certificate {
	tb.Helper()
	block, _ := pem.Decode([]byte(text))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestSerialLiterals(t *testing.T) {
	for h, d := range map[string]string{rootSerialHex: rootSerialDec, root2SerialHex: root2SerialDec, appSerialHex: appSerialDec, alipaySerialHex: alipaySerialDec, nextSerialHex: nextSerialDec} {
		if got := serial(t, h).String(); got != d {
			t.Errorf("serial %s: the hand-written decimal %s is wrong (%s)", h, d, got)
		}
	}
}

func TestCertSNIssuerOrderAndDecimalSerial(t *testing.T) {
	p := newPKI(t)
	ali := firstCert(t, p.alipayCert)
	dn, err := alipay.IssuerDN(ali)
	if err != nil || dn != testInterDN {
		t.Fatalf("IssuerDN = %q, %v; want %q", dn, err, testInterDN)
	}
	sn, err := alipay.CertSN(ali)
	if want := hexSN(testInterDN, alipaySerialDec); err != nil || sn != want {
		t.Fatalf("CertSN = %q, %v; want %q", sn, err, want)
	}
}

func TestRootCertSNOnlyRSAEntries(t *testing.T) {
	p := newPKI(t)
	sn, err := alipay.RootCertSN(p.bundle)
	want := hexSN(testRootDN, rootSerialDec) + "_" + hexSN(testRoot2DN, root2SerialDec)
	if err != nil || sn != want {
		t.Fatalf("RootCertSN = %q, %v; want %q (the EC and unreadable entries left out)", sn, err, want)
	}
	ecOnly, _, _ := strings.Cut(p.bundle, "-----END CERTIFICATE-----")
	if _, err := alipay.RootCertSN(ecOnly + "-----END CERTIFICATE-----\n"); err == nil {
		t.Fatal("a bundle without an RSA-signed certificate was accepted")
	}
}

func TestLoadCerts(t *testing.T) {
	p := newPKI(t)
	cs, err := alipay.LoadCerts(alipay.CertOptions{AppCert: p.appCert, AlipayCerts: []string{p.alipayCert}, RootCert: p.bundle, PrivateKey: p.appKey, Now: pkiNow})
	if err != nil {
		t.Fatal(err)
	}
	if want := hexSN(testInterDN, appSerialDec); cs.AppCertSN != want {
		t.Errorf("AppCertSN = %q, want %q", cs.AppCertSN, want)
	}
	if want := hexSN(testRootDN, rootSerialDec) + "_" + hexSN(testRoot2DN, root2SerialDec); cs.RootCertSN != want {
		t.Errorf("RootCertSN = %q, want %q", cs.RootCertSN, want)
	}
	if got := cs.AlipayCertSNs(); len(got) != 1 || got[0] != hexSN(testInterDN, alipaySerialDec) {
		t.Errorf("AlipayCertSNs = %q", got)
	}
}

func TestLoadCertsRefuses(t *testing.T) {
	p := newPKI(t)
	ok := alipay.CertOptions{AppCert: p.appCert, AlipayCerts: []string{p.alipayCert}, RootCert: p.bundle, PrivateKey: p.appKey, Now: pkiNow}
	cases := []struct {
		name, field, text string
		edit              func(o *alipay.CertOptions)
	}{
		{"app cert not a certificate", "app_cert", "no certificate", func(o *alipay.CertOptions) {
			o.AppCert = "-----BEGIN PUBLIC KEY-----\nMAMCAQA=\n-----END PUBLIC KEY-----\n"
		}},
		{"app cert of another key", "app_cert", "not the one of private_key", func(o *alipay.CertOptions) { o.PrivateKey = p.nextKey }},
		{"no Alipay cert", "alipay_cert", "missing", func(o *alipay.CertOptions) { o.AlipayCerts = nil }},
		{"Alipay cert garbage", "alipay_cert", "no certificate", func(o *alipay.CertOptions) { o.AlipayCerts = []string{"garbage"} }},
		{"Alipay cert under another root", "alipay_cert", "does not chain", func(o *alipay.CertOptions) { o.RootCert = p.otherRoot }},
		{"Alipay cert without its intermediate", "alipay_cert", "does not chain", func(o *alipay.CertOptions) {
			leaf, _, _ := strings.Cut(p.alipayCert, "-----END CERTIFICATE-----")
			o.AlipayCerts = []string{leaf + "-----END CERTIFICATE-----\n"}
		}},
		{"forged intermediate", "alipay_cert", "does not chain", func(o *alipay.CertOptions) { o.AlipayCerts = []string{p.forged} }},
		{"expired", "alipay_cert", "does not chain", func(o *alipay.CertOptions) {
			o.Now = func() time.Time { return p.notAfter.Add(time.Hour) }
		}},
		{"same cert twice", "alipay_cert #2", "twice", func(o *alipay.CertOptions) { o.AlipayCerts = []string{p.alipayCert, p.alipayCert} }},
		{"root bundle without RSA", "alipay_root_cert", "no RSA-signed", func(o *alipay.CertOptions) { o.RootCert = "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := ok
			c.edit(&o)
			_, err := alipay.LoadCerts(o)
			var ce *alipay.CertError
			if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("LoadCerts: %v; want a %s error saying %q", err, c.field, c.text)
			}
			if !strings.HasPrefix(err.Error(), c.field+": ") {
				t.Errorf("the message %q does not start with the subdirective", err)
			}
		})
	}
}

func TestCertsKeysBySN(t *testing.T) {
	p := newPKI(t)
	cs, err := alipay.LoadCerts(alipay.CertOptions{AppCert: p.appCert, AlipayCerts: []string{p.alipayCert, p.nextCert}, RootCert: p.bundle, PrivateKey: p.appKey, Now: pkiNow})
	if err != nil {
		t.Fatal(err)
	}
	cur, next := hexSN(testInterDN, alipaySerialDec), hexSN(testInterDN, nextSerialDec)
	if k, err := cs.Keys(next); err != nil || len(k) != 1 || !k[0].Equal(&p.nextKey.PublicKey) {
		t.Errorf("Keys(next) = %v, %v", k, err)
	}
	if k, err := cs.Keys(cur); err != nil || len(k) != 1 || !k[0].Equal(&p.alipayKey.PublicKey) {
		t.Errorf("Keys(current) = %v, %v", k, err)
	}
	if k, err := cs.Keys(""); err != nil || len(k) != 2 {
		t.Errorf("Keys(\"\") = %d keys, %v; want both", len(k), err)
	}
	if _, err := cs.Keys(hexSN(testInterDN, "1")); !errors.Is(err, alipay.ErrUnknownCertSN) {
		t.Errorf("an unknown SN: %v", err)
	}
}

func TestLoadCertsNotifyOnly(t *testing.T) {
	p := newPKI(t)
	cs, err := alipay.LoadCerts(alipay.CertOptions{AlipayCerts: []string{p.alipayCert}, AppCertOptional: true, Now: pkiNow})
	if err != nil || cs.AppCertSN != "" || cs.RootCertSN != "" {
		t.Fatalf("LoadCerts without app and root certificates: %+v, %v", cs, err)
	}
	if _, err := alipay.LoadCerts(alipay.CertOptions{AlipayCerts: []string{p.alipayCert}, RootCert: p.otherRoot, AppCertOptional: true, Now: pkiNow}); err == nil {
		t.Fatal("a given root bundle was not checked")
	}
}

func TestIssuerDNEscapesAndMultiValued(t *testing.T) {
	key := rsaKey(t, 1024)
	name, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "CN"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "A, B+C"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "#x"}},
		{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "a@b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mkCert(t, "05", name, true, &key.PublicKey, nil, key)
	dn, err := alipay.IssuerDN(c)
	// a@b is encoded a UTF8String (tag 0x0c, length 3); DER sorts the
	// multi-valued name's set, the shorter OU first.
	want := `1.2.840.113549.1.9.1=#0c03614062,OU=\#x+O=A\, B\+C,C=CN`
	if err != nil || dn != want {
		t.Fatalf("IssuerDN = %q, %v; want %q", dn, err, want)
	}
}
