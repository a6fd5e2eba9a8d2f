package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// selfSigned makes a self-signed certificate for key with the given serial.
func selfSigned(t *testing.T, key *rsa.PrivateKey, serial *big.Int) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "signing test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseRSAPrivateKey(t *testing.T) {
	pkcs1PEM := vectorFileText(t, "keys/app-private-key.pem")
	want, err := ParseRSAPrivateKey(pkcs1PEM)
	if err != nil {
		t.Fatalf("PEM PKCS#1: %v", err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(want)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(want)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	wrapped := func(s string) string { // 64-column lines, as consoles hand keys out
		var b strings.Builder
		for len(s) > 64 {
			b.WriteString(s[:64] + "\n")
			s = s[64:]
		}
		b.WriteString(s)
		return b.String()
	}
	certPEM := pemString("CERTIFICATE", selfSigned(t, want, big.NewInt(7)))
	cases := map[string]string{
		"PEM PKCS#1":                pkcs1PEM,
		"PEM PKCS#8":                pemString("PRIVATE KEY", pkcs8),
		"PEM PKCS#8 labelled RSA":   pemString("RSA PRIVATE KEY", pkcs8),
		"PEM PKCS#1 labelled PKCS8": pemString("PRIVATE KEY", pkcs1),
		"base64 PKCS#1":             b64(pkcs1),
		"base64 PKCS#8":             b64(pkcs8),
		"base64 PKCS#8 wrapped":     "  " + wrapped(b64(pkcs8)) + "\n",
		"base64 PKCS#8 unpadded":    strings.TrimRight(b64(pkcs8), "="),
		"PEM with literal \\n":      strings.ReplaceAll(strings.TrimSpace(pemString("PRIVATE KEY", pkcs8)), "\n", `\n`),
		"certificate then key":      certPEM + pemString("PRIVATE KEY", pkcs8),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRSAPrivateKey(in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) {
				t.Fatal("parsed a different key")
			}
		})
	}

	official := vectorPrivateKey(t, "keys/wxpay_official_test_key.pem") // PKCS#8 file
	if official.N.BitLen() != 2048 {
		t.Fatalf("official test key: %d bits", official.N.BitLen())
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	bad := map[string]string{
		"empty":             "",
		"garbage":           "not a key at all!",
		"base64 garbage":    b64([]byte("definitely not DER")),
		"truncated PEM":     pkcs1PEM[:len(pkcs1PEM)/2],
		"truncated DER":     b64(pkcs8[:len(pkcs8)-10]),
		"EC key":            pemString("PRIVATE KEY", ecDER),
		"public key":        vectorFileText(t, "keys/app-public-key.pem"),
		"certificate only":  certPEM,
		"encrypted PKCS#8":  pemString("ENCRYPTED PRIVATE KEY", pkcs8),
		"encrypted PKCS#1":  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}, Bytes: pkcs1})),
		"PEM no base64":     "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n",
		"half PEM, no END":  "-----BEGIN PRIVATE KEY-----\n" + b64(pkcs8),
		"base64 of garbage": "QUJD",
	}
	for name, in := range bad {
		t.Run("bad/"+name, func(t *testing.T) {
			k, err := ParseRSAPrivateKey(in)
			if err == nil || k != nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			if len(in) > 16 && strings.Contains(err.Error(), in[len(in)/2:len(in)/2+8]) {
				t.Fatal("error message quotes the input")
			}
		})
	}
}

func TestParseRSAPublicKey(t *testing.T) {
	priv := vectorPrivateKey(t, "keys/app-private-key.pem")
	want := &priv.PublicKey
	pkixPEM := vectorFileText(t, "keys/app-public-key.pem")
	pkixDER, err := x509.MarshalPKIXPublicKey(want)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(want)
	cert := selfSigned(t, priv, big.NewInt(42))
	b64 := base64.StdEncoding.EncodeToString
	cases := map[string]string{
		"PEM PKIX (file)":            pkixPEM,
		"PEM PKCS#1":                 pemString("RSA PUBLIC KEY", pkcs1),
		"PEM PKCS#1 labelled PKIX":   pemString("PUBLIC KEY", pkcs1),
		"base64 PKIX":                b64(pkixDER),
		"base64 PKCS#1":              b64(pkcs1),
		"certificate PEM":            pemString("CERTIFICATE", cert),
		"certificate base64":         b64(cert),
		"single-line base64 file":    "\n" + b64(pkixDER) + "\n",
		"PKIX with leading comments": "Alipay public key\n" + pkixPEM,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRSAPublicKey(in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) {
				t.Fatal("parsed a different key")
			}
		})
	}
	for _, f := range []string{"keys/alipay-public-key.pem", "keys/alipay-trade-notify-public-key.pem", "keys/alipay-notify-sign-public-key-v2.pem", "keys/wxpay_official_verify_pub.pem"} {
		vectorPublicKey(t, f)
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	bad := map[string]string{
		"empty":                     "   ",
		"garbage":                   "-----BEGIN PUBLIC KEY-----\nZZZZ\n-----END PUBLIC KEY-----\n",
		"not base64":                "hello, world",
		"private key":               vectorFileText(t, "keys/app-private-key.pem"),
		"private key base64 PKCS#1": b64(x509.MarshalPKCS1PrivateKey(priv)),
		"EC key":                    pemString("PUBLIC KEY", ecDER),
		"truncated":                 b64(pkixDER[:100]),
	}
	for name, in := range bad {
		t.Run("bad/"+name, func(t *testing.T) {
			k, err := ParseRSAPublicKey(in)
			if err == nil || k != nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
		})
	}
}

func TestParseCertificate(t *testing.T) {
	priv := vectorPrivateKey(t, "keys/app-private-key.pem")
	serial, _ := new(big.Int).SetString("5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC", 16)
	der := selfSigned(t, priv, serial)
	for name, in := range map[string]string{
		"PEM":                pemString("CERTIFICATE", der),
		"base64":             base64.StdEncoding.EncodeToString(der),
		"key then two certs": vectorFileText(t, "keys/app-public-key.pem") + pemString("CERTIFICATE", der) + pemString("CERTIFICATE", selfSigned(t, priv, big.NewInt(1))),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := ParseCertificate(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := CertificateSerialNo(c); got != "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC" {
				t.Fatalf("serial %s", got)
			}
			if !c.PublicKey.(*rsa.PublicKey).Equal(&priv.PublicKey) {
				t.Fatal("wrong public key")
			}
		})
	}
	for name, in := range map[string]string{
		"empty":      "",
		"public key": vectorFileText(t, "keys/app-public-key.pem"),
		"garbage":    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := ParseCertificate(in); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: err = %v, want ErrBadKey", name, err)
		}
	}
	if CertificateSerialNo(nil) != "" {
		t.Error("nil certificate has a serial")
	}
}

func TestNonceStr(t *testing.T) {
	seen := map[string]bool{}
	var counts [256]int
	for range 2000 {
		n := NonceStr()
		if len(n) != 32 {
			t.Fatalf("len %d", len(n))
		}
		for i := 0; i < len(n); i++ {
			if !strings.ContainsRune(nonceAlphabet, rune(n[i])) {
				t.Fatalf("char %q", n[i])
			}
			counts[n[i]]++
		}
		if seen[n] {
			t.Fatal("repeated nonce")
		}
		seen[n] = true
	}
	// 64000 draws over 62 characters: about 1032 each; a broken (say,
	// modulo-biased or constant) generator is far outside 700..1400.
	for i := 0; i < len(nonceAlphabet); i++ {
		if c := counts[nonceAlphabet[i]]; c < 700 || c > 1400 {
			t.Fatalf("character %q drawn %d times", nonceAlphabet[i], c)
		}
	}
}

// TestKeyErrorsNameTheFix checks that a key that cannot be parsed gets an
// error saying what to give instead, without quoting what was given.
func TestKeyErrorsNameTheFix(t *testing.T) {
	priv := vectorPrivateKey(t, "keys/app-private-key.pem")
	privPEM := vectorFileText(t, "keys/app-private-key.pem")
	pubPEM := vectorFileText(t, "keys/app-public-key.pem")
	pkixDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pkcs1 := x509.MarshalPKCS1PrivateKey(priv)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, in, want string
		parse          func(string) error
	}{
		{"private: absolute path", "/etc/alipay/app_private_key.pem", "looks like a file path", parsePriv},
		{"private: path without extension", "/etc/alipay/key", "looks like a file path", parsePriv},
		{"private: relative path", "./keys/x.pem", "looks like a file path", parsePriv},
		{"private: windows path", `C:\keys\x.pem`, "looks like a file path", parsePriv},
		{"private: a public key", pubPEM, "this is a public key or a certificate, not a private key", parsePriv},
		{"private: a public key in base64", b64(pkixDER), "this is a public key or a certificate, not a private key", parsePriv},
		{"private: EC key", pemString("PRIVATE KEY", ecDER), "an ECDSA key is not an RSA key", parsePriv},
		{"private: cut PEM", "-----BEGIN PRIVATE KEY-----\n" + b64(pkcs1), "-----END", parsePriv},
		{"private: text", "my secret key!", "neither PEM", parsePriv},
		{"public: path", "alipay_public_key.pem", "looks like a file path", parsePub},
		{"public: a private key", privPEM, "this is a private key, not a public key", parsePub},
		{"public: a private key in base64", b64(pkcs1), "this is a private key, not a public key", parsePub},
		{"certificate: path", "/etc/wxpay/root.crt", "looks like a file path", parseCert},
		{"certificate: a key", pubPEM, "no certificate found", parseCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(tc.in)
			if err == nil || !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if len(tc.in) > 40 && strings.Contains(err.Error(), tc.in[len(tc.in)/2:len(tc.in)/2+16]) {
				t.Fatal("error message quotes the input")
			}
		})
	}
	for _, s := range []string{b64(pkixDER), pubPEM, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", ""} {
		if LooksLikePath(s) {
			t.Errorf("LooksLikePath(%.20q) = true", s)
		}
	}
}

func parsePriv(s string) error { _, err := ParseRSAPrivateKey(s); return err }
func parsePub(s string) error  { _, err := ParseRSAPublicKey(s); return err }
func parseCert(s string) error { _, err := ParseCertificate(s); return err }
