package alipay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

func TestProvision(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der8, _ := x509.MarshalPKCS8PrivateKey(k)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	pkcs8, pub := base64.StdEncoding.EncodeToString(der8), base64.StdEncoding.EncodeToString(pubDER)
	for _, tc := range []struct {
		key, keyType string
		sandbox      bool
		endpoint     string
	}{
		{pkcs1, "PKCS1", false, alipay.DefaultEndpoint},
		{pkcs8, "", true, alipay.SandboxEndpoint},
		{pkcs1, "PKCS8", false, alipay.DefaultEndpoint}, // a mismatch is read anyway
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		a := &Alipay{AppID: "2021", PrivateKey: tc.key, KeyType: tc.keyType, AlipayPublicKey: pub, Sandbox: tc.sandbox}
		if err := a.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		if a.client.Endpoint != tc.endpoint || a.client.PrivateKey == nil || a.client.AlipayPublicKey == nil {
			t.Errorf("client: %+v", a.client)
		}
		if p, ok := a.PayProvider(time.Second).(*alipay.Pay); !ok || p.Client != a.client || a.client.HTTP.Timeout != time.Second {
			t.Errorf("the payment API: %+v", p)
		}
		_ = a.Cleanup()
		cancel()
	}
	if err := (&Alipay{}).Cleanup(); err != nil {
		t.Errorf("Cleanup before Provision: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for in, want := range map[string]string{
		"alipay {\n mch_id 1\n}":            "mch_id is not a subdirective of unicloud_payment alipay",
		"alipay {\n serial_no 1\n}":         "serial_no is not a subdirective of unicloud_payment alipay",
		"alipay {\n key_type X\n}":          `key_type must be PKCS8 or PKCS1, not "X"`,
		"alipay {\n refund_all y\n}":        `unknown subdirective "refund_all"`,
		"alipay {\n app_id a\n app_id b\n}": "app_id is given twice",
	} {
		var a Alipay
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
