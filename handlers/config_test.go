package handlers

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestResolveSecret(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(full, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	t.Setenv("UNICLOUD_TEST_SET", " from-the-env ")
	t.Setenv("UNICLOUD_TEST_EMPTY", "")
	for _, tc := range []struct {
		raw, want, err string
	}{
		{"", "", ""},
		{"  literal  ", "literal", ""},
		{"{env.UNICLOUD_TEST_SET}", "from-the-env", ""},
		{"{file." + full + "}", "from-the-file", ""},
		{"{file." + empty + "}", "", "private_key: {file." + empty + "} resolved to an empty value (missing or empty file?)"},
		{"{file." + missing + "}", "", "private_key: {file." + missing + "} resolved to an empty value (missing or empty file?)"},
		{"{env.UNICLOUD_TEST_EMPTY}", "", "private_key: {env.UNICLOUD_TEST_EMPTY} resolved to an empty value (unset or empty environment variable?)"},
		{"{env.UNICLOUD_TEST_NEVER_SET}", "", "{env.UNICLOUD_TEST_NEVER_SET} resolved to an empty value"},
		// Not a lone placeholder: it may be a secret with braces, never quoted.
		{"{secret-ish}", "", "private_key: the value resolved to an empty value (an unset placeholder?)"},
	} {
		got, err := ResolveSecret("private_key", tc.raw)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.raw, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want %q", tc.raw, err, tc.err)
		}
	}
}

func TestResolveKeyFilePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/etc/alipay/key.pem", `private_key: "/etc/alipay/key.pem" looks like a file path: use {file./etc/alipay/key.pem}`},
		{"./keys/x.pem", `private_key: "./keys/x.pem" looks like a file path: use {file../keys/x.pem}`},
		{"apiclient_key.pem", `use {file.apiclient_key.pem}`},
		{"/etc/wxpay/apiclient_key", `use {file./etc/wxpay/apiclient_key}`},
	} {
		if _, err := ResolveKey("private_key", tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	_, pkcs8, pub := testKeys(t)
	for _, in := range []string{pkcs8, pub, "-----BEGIN PUBLIC KEY-----\n" + pub + "\n-----END PUBLIC KEY-----"} {
		if got, err := ResolveKey("private_key", in); err != nil || got != strings.TrimSpace(in) {
			t.Errorf("key content refused: %v", err)
		}
	}
}

func TestPublicListenAddrs(t *testing.T) {
	for _, tc := range []struct {
		listen []string
		public string
	}{
		{[]string{"127.0.0.1:8090"}, ""},
		{[]string{"tcp/127.0.0.2:8090", "[::1]:8090", "localhost:8090"}, ""},
		{[]string{"10.1.2.3:8090", "172.16.0.1:8090", "192.168.1.1:8090", "[fd00::1]:8090", "[::ffff:10.0.0.1]:8090"}, ""},
		{[]string{"unix//run/unicloud.sock"}, ""},
		{[]string{":8090"}, ":8090"},
		{[]string{"127.0.0.1:8090", "203.0.113.7:8090"}, "203.0.113.7:8090"},
		{[]string{"[::]:8090"}, "[::]:8090"},
		{[]string{"0.0.0.0:8090"}, "0.0.0.0:8090"},
		{[]string{"172.32.0.1:8090"}, "172.32.0.1:8090"},
		{[]string{"pay.example.com:8090"}, "pay.example.com:8090"},
	} {
		if got := strings.Join(publicListenAddrs(tc.listen), " "); got != tc.public {
			t.Errorf("%v: %q, want %q", tc.listen, got, tc.public)
		}
	}
}

func TestWarnPublicListen(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	WarnPublicListen(zap.New(core), "unicloud_payment", []string{"127.0.0.1:8090"})
	if logs.Len() != 0 {
		t.Fatalf("loopback warned: %v", logs.All())
	}
	WarnPublicListen(zap.New(core), "unicloud_payment", []string{":8090"})
	all := logs.All()
	if len(all) != 1 {
		t.Fatalf("%d warnings", len(all))
	}
	msg := all[0].Message
	if !strings.Contains(msg, "bind 127.0.0.1") || !strings.Contains(msg, "authentication") || !strings.Contains(msg, "refund") {
		t.Errorf("message: %s", msg)
	}
	if l, ok := all[0].ContextMap()["listen"].([]any); !ok || len(l) != 1 || l[0] != ":8090" {
		t.Errorf("listen field: %v", all[0].ContextMap())
	}
}

// testKeys makes an RSA key: its PKCS#1 PEM, PKCS#8 base64 and public key
// base64.
func testKeys(t *testing.T) (pkcs1PEM, pkcs8B64, pubB64 string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})),
		base64.StdEncoding.EncodeToString(der8), base64.StdEncoding.EncodeToString(pub)
}

// ResolveOptions resolves in order, key options as keys, and names the directive in its first error; a key's value
// is never quoted.
func TestResolveOptions(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_OPT", "from-env")
	a, b := "{env.UNICLOUD_TEST_OPT}", "  plain "
	if err := ResolveOptions("unicloud_x", Option{Name: "a", Value: &a}, Option{Name: "b", Value: &b}); err != nil || a != "from-env" || b != "plain" {
		t.Errorf("%q %q %v", a, b, err)
	}
	first, key, after := "ok", "/etc/keys/app_private_key.pem", "{env.UNICLOUD_TEST_OPT}"
	err := ResolveOptions("unicloud_x", Option{Name: "first", Value: &first}, Option{Name: "private_key", Value: &key, Key: true},
		Option{Name: "after", Value: &after})
	if err == nil || !strings.HasPrefix(err.Error(), "unicloud_x: private_key") || !strings.Contains(err.Error(), "{file.") {
		t.Errorf("a path for a key: %v", err)
	}
	if after != "{env.UNICLOUD_TEST_OPT}" {
		t.Error("resolving went on after the first error")
	}
}

func TestPaymentKeyChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"v2 32 runes", CheckV2Key("key", strings.Repeat("密", 32)), ""},
		{"v2 short", CheckV2Key("key", "short-secret-value"), "key must be 32 characters (the APIv2 key set in the merchant platform), not 18"},
		{"v3 32 bytes", CheckAPIv3Key("api_v3_key", strings.Repeat("k", 32)), ""},
		{"v3 32 runes, more bytes", CheckAPIv3Key("api_v3_key", strings.Repeat("密", 32)), "api_v3_key must be 32 bytes (the APIv3 key set in the merchant platform), not 96"},
		{"https", CheckHTTPURL("notify_url", "https://example.com/notify/wxpay"), ""},
		{"http with port", CheckHTTPURL("endpoint", "http://127.0.0.1:9100"), ""},
		{"relative", CheckHTTPURL("notify_url", "/notify/wxpay"), `notify_url must be an absolute http(s) URL such as https://example.com/notify, not "/notify/wxpay"`},
		{"no scheme", CheckHTTPURL("notify_url", "example.com/notify"), "must be an absolute http(s) URL"},
		{"other scheme", CheckHTTPURL("endpoint", "ftp://example.com"), "must be an absolute http(s) URL"},
		{"no host", CheckHTTPURL("endpoint", "https:///x"), "must be an absolute http(s) URL"},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		case tc.err != nil && strings.Contains(tc.err.Error(), "short-secret-value"):
			t.Errorf("%s: the key is quoted", tc.name)
		}
	}
}

func TestCAPool(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "unicloud test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	for _, in := range []string{caPEM, file} {
		pool, err := CAPool(in)
		if err != nil {
			t.Fatalf("%.30q: %v", in, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
			t.Errorf("%.30q: the CA is not trusted: %v", in, err)
		}
	}
	if _, err := CAPool(filepath.Join(t.TempDir(), "missing.pem")); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := CAPool("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"); err == nil || err.Error() != "no PEM certificate found" {
		t.Errorf("broken PEM: %v", err)
	}
}
