package handlers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/internal/wxpaytest"
)

const (
	platformTestSerial   = "5B1F3C2D4E6A7B8C9D0E1F2A3B4C5D6E7F809102"
	platformTestMerchant = "7F2C4B1A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B"
	platformTestPubKeyID = "PUB_KEY_ID_0119000001092024110100000000"
	platformTestV3Key    = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
)

func platformTestKeys(tb testing.TB) (merchant, ca, platform *rsa.PrivateKey) {
	k := wxpaytest.TestKeys()
	return k.Merchant, k.CA, k.Platform
}

// platformFake is a stand-in for GET /v3/certificates (wxpaytest).
type platformFake struct {
	*wxpaytest.Certificates
	apiV3Key string
}

func newPlatformFake(t *testing.T, apiV3Key string) *platformFake {
	t.Helper()
	return &platformFake{
		Certificates: wxpaytest.NewCertificates(t, wxpaytest.CertificatesOptions{
			MerchantSerial: platformTestMerchant, PlatformSerial: platformTestSerial, APIv3Key: apiV3Key,
		}),
		apiV3Key: apiV3Key,
	}
}

func platformTestContext(t *testing.T) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

func autoConfig(t *testing.T, f *platformFake, mchID string) PlatformStoreConfig {
	merchant, _, _ := platformTestKeys(t)
	return PlatformStoreConfig{
		Endpoint: f.Server.URL + "/", MchID: mchID, Auto: true, SerialNo: platformTestMerchant,
		PrivateKey: merchant, APIv3Key: f.apiV3Key, Root: f.CAPEM, HTTP: f.Server.Client(),
	}
}

// Every handler of a merchant shares one store; it lives while one of them
// holds it.
func TestAcquirePlatformStoreShared(t *testing.T) {
	f := newPlatformFake(t, platformTestV3Key)
	ctx := platformTestContext(t)
	_, _, platformKey := platformTestKeys(t)
	pubDER, _ := x509.MarshalPKIXPublicKey(&platformKey.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	const mch = "1900000201"

	s1, release1, err := AcquirePlatformStore(ctx, PlatformStoreConfig{
		Endpoint: f.Server.URL, MchID: mch, Keys: map[string]string{platformTestPubKeyID: pubPEM}})
	if err != nil {
		t.Fatal(err)
	}
	s2, release2, err := AcquirePlatformStore(ctx, autoConfig(t, f, mch))
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 {
		t.Fatal("two stores for one merchant")
	}
	if got, ok := lookupPlatformStore(f.Server.URL+"/", mch); !ok || got != s1 {
		t.Fatal("lookup by endpoint and mch_id")
	}
	if _, ok := lookupPlatformStore("", mch); ok {
		t.Fatal("store found at another endpoint")
	}
	if len(platformStoresOf(mch)) != 1 {
		t.Fatal("platformStoresOf")
	}
	if _, ok := s1.PlatformKey(platformTestPubKeyID, time.Now()); !ok {
		t.Fatal("configured public key")
	}
	if f.Downloads.Load() != 0 {
		t.Fatal("downloaded at provisioning")
	}
	if err := s1.RefreshPlatformKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := s1.PlatformKey(platformTestSerial, time.Now()); !ok {
		t.Fatal("downloaded certificate")
	}
	release1()
	release1()
	if _, ok := s2.PlatformKey(platformTestPubKeyID, time.Now()); ok {
		t.Fatal("released handler's key still known")
	}
	if _, ok := lookupPlatformStore(f.Server.URL, mch); !ok {
		t.Fatal("store gone while a handler holds it")
	}
	release2()
	if _, ok := lookupPlatformStore(f.Server.URL, mch); ok {
		t.Fatal("store still there after the last handler")
	}
	if len(platformStoresOf(mch)) != 0 {
		t.Fatal("platformStoresOf after release")
	}
}

func TestAcquirePlatformStoreErrors(t *testing.T) {
	f := newPlatformFake(t, platformTestV3Key)
	ctx := platformTestContext(t)
	const mch = "1900000202"
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootFile, []byte(f.CAPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	good := autoConfig(t, f, mch)
	good.Root = rootFile // a path works too
	_, release, err := AcquirePlatformStore(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	release()

	for name, tc := range map[string]struct {
		mod  func(c *PlatformStoreConfig)
		want string
	}{
		"no mch_id":            {func(c *PlatformStoreConfig) { c.MchID = "" }, "mch_id"},
		"bad key":              {func(c *PlatformStoreConfig) { c.Keys = map[string]string{"S": "not a key"} }, "platform_key"},
		"root without auto":    {func(c *PlatformStoreConfig) { c.Auto = false }, "platform_root needs"},
		"bad root":             {func(c *PlatformStoreConfig) { c.Root = "-----BEGIN nothing" }, "platform_root"},
		"root file missing":    {func(c *PlatformStoreConfig) { c.Root = filepath.Join(t.TempDir(), "none.pem") }, "platform_root"},
		"auto without key":     {func(c *PlatformStoreConfig) { c.PrivateKey = nil }, "private_key"},
		"auto without serial":  {func(c *PlatformStoreConfig) { c.SerialNo = "" }, "serial_no"},
		"auto with a short v3": {func(c *PlatformStoreConfig) { c.APIv3Key = "short" }, "api_v3_key"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := autoConfig(t, f, mch)
			tc.mod(&cfg)
			_, _, err := AcquirePlatformStore(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, ok := lookupPlatformStore(f.Server.URL, mch); ok {
				t.Fatal("a refused configuration left a store behind")
			}
		})
	}
}
