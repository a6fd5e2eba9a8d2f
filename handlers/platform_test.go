package handlers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/internal/wxpaytest"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

const (
	platformTestSerial   = "5B1F3C2D4E6A7B8C9D0E1F2A3B4C5D6E7F809102"
	platformTestMerchant = "7F2C4B1A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B"
	platformTestPubKeyID = "PUB_KEY_ID_0119000001092024110100000000"
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
	f := newPlatformFake(t, notifyTestV3Key)
	ctx := platformTestContext(t)
	_, _, platformKey := platformTestKeys(t)
	pubDER, _ := x509.MarshalPKIXPublicKey(&platformKey.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	const mch = "1900000201"

	s1, release1, err := acquirePlatformStore(ctx, PlatformStoreConfig{
		Endpoint: f.Server.URL, MchID: mch, Keys: map[string]string{platformTestPubKeyID: pubPEM}})
	if err != nil {
		t.Fatal(err)
	}
	s2, release2, err := acquirePlatformStore(ctx, autoConfig(t, f, mch))
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
	if _, ok := s1.PlatformKey(platformTestPubKeyID); !ok {
		t.Fatal("configured public key")
	}
	if f.Downloads.Load() != 0 {
		t.Fatal("downloaded at provisioning")
	}
	if err := s1.RefreshPlatformKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := s1.PlatformKey(platformTestSerial); !ok {
		t.Fatal("downloaded certificate")
	}
	release1()
	release1()
	if _, ok := s2.PlatformKey(platformTestPubKeyID); ok {
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
	f := newPlatformFake(t, notifyTestV3Key)
	ctx := platformTestContext(t)
	const mch = "1900000202"
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootFile, []byte(f.CAPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	good := autoConfig(t, f, mch)
	good.Root = rootFile // a path works too
	_, release, err := acquirePlatformStore(ctx, good)
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
			_, _, err := acquirePlatformStore(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, ok := lookupPlatformStore(f.Server.URL, mch); ok {
				t.Fatal("a refused configuration left a store behind")
			}
		})
	}
}

// A v3 notify handler with mch_id and no platform_key verifies with the
// platform key its merchant's store downloads.
func TestNotifyPlatformKeysFromStore(t *testing.T) {
	f := newPlatformFake(t, notifyTestV3Key)
	const mch = "1900000203" // no other test's merchant
	n, logs := provisionNotify(t, &Notify{Provider: "wxpay", MchID: mch, APIv3Key: notifyTestV3Key})
	keys, ok := n.wxpay.PlatformKeys.(*notifyPlatformKeys)
	if !ok {
		t.Fatalf("key source %T", n.wxpay.PlatformKeys)
	}
	keys.logger = n.logger
	_, _, platformKey := platformTestKeys(t)
	signer := emulator.WxpayV3NotifySigner{PlatformKey: platformKey, Serial: platformTestSerial, APIv3Key: notifyTestV3Key}
	o := notifyTestOrder()
	o.MchID = mch

	// No unicloud_payment handler of the merchant yet: refused, said once.
	for range 3 {
		m, err := emulator.WxpayV3TransactionNotification(o, signer)
		if err != nil {
			t.Fatal(err)
		}
		next := &recordingNext{}
		w := serveNotify(t, n, next, m, nil)
		if w.Code != http.StatusUnauthorized || next.calls != 0 || !strings.Contains(w.Body.String(), "serial") {
			t.Fatalf("without a store: %d %s", w.Code, w.Body)
		}
	}
	if got := logs.FilterMessageSnippet("platform_certs auto").Len(); got != 1 {
		t.Fatalf("%d warnings naming platform_certs auto, want 1", got)
	}

	// The payment handler of the merchant arrives (provisioned after the
	// notify handler): its store is used from the next notification.
	_, release, err := acquirePlatformStore(platformTestContext(t), autoConfig(t, f, mch))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for i := range 3 {
		m, err := emulator.WxpayV3TransactionNotification(o, signer)
		if err != nil {
			t.Fatal(err)
		}
		next := &recordingNext{}
		w := serveNotify(t, n, next, m, nil)
		if w.Code != http.StatusNoContent || next.calls != 1 {
			t.Fatalf("notification %d: %d %s", i, w.Code, w.Body)
		}
	}
	if got := f.Downloads.Load(); got != 1 {
		t.Fatalf("%d downloads, want 1", got)
	}

	// Made-up serials right after: the first download learned new serials,
	// so one more (fruitless) download is allowed; after it, the limit
	// holds (one fruitless refresh a minute) and nothing more is fetched.
	for i, want := range []int32{2, 2, 2} {
		bad := signer
		bad.Serial = fmt.Sprintf("0123456789ABCDEF0123456789ABCDEF0123456%d", i)
		m, err := emulator.WxpayV3TransactionNotification(o, bad)
		if err != nil {
			t.Fatal(err)
		}
		next := &recordingNext{}
		if w := serveNotify(t, n, next, m, nil); w.Code != http.StatusUnauthorized || next.calls != 0 {
			t.Fatalf("unknown serial: %d %s", w.Code, w.Body)
		}
		if got := f.Downloads.Load(); got != want {
			t.Fatalf("after made-up serial %d: %d downloads, want %d", i, got, want)
		}
	}
}

// Its own platform_key entries still work, beside the merchant's store.
func TestNotifyPlatformKeysOwnAndShared(t *testing.T) {
	n, _ := provisionNotify(t, wxpayNotify(t))
	if _, ok := n.wxpay.PlatformKeys.(*notifyPlatformKeys); !ok {
		t.Fatalf("key source %T", n.wxpay.PlatformKeys)
	}
	m, err := emulator.WxpayV3TransactionNotification(notifyTestOrder(), notifyTestSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	next := &recordingNext{}
	if w := serveNotify(t, n, next, m, nil); w.Code != http.StatusNoContent || next.calls != 1 {
		t.Fatalf("own platform_key: %d %s", w.Code, w.Body)
	}
	// Without mch_id the handler has only its own keys.
	own := wxpayNotify(t)
	own.MchID = ""
	n2, _ := provisionNotify(t, own)
	if _, ok := n2.wxpay.PlatformKeys.(wxpay.PlatformKeySet); !ok {
		t.Fatalf("key source %T", n2.wxpay.PlatformKeys)
	}
}

func TestNotifyValidateV3KeySources(t *testing.T) {
	for name, tc := range map[string]struct {
		n    Notify
		want string
	}{
		"mch_id, no platform_key": {Notify{Provider: "wxpay", MchID: notifyTestMchID, APIv3Key: notifyTestV3Key}, ""},
		"neither":                 {Notify{Provider: "wxpay", APIv3Key: notifyTestV3Key}, "platform_certs auto"},
	} {
		t.Run(name, func(t *testing.T) {
			n := tc.n
			if err := n.Provision(platformTestContext(t)); err != nil {
				t.Fatal(err)
			}
			err := n.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func BenchmarkNotifyPlatformKeysHit(b *testing.B) {
	s := wxpay.NewPlatformStore("", "1900000299")
	sh := &platformShared{key: platformPoolKey("", "1900000299"), store: s, cancel: func() {}}
	addPlatformStore(sh)
	defer removePlatformStore(sh)
	_, _, platformKey := platformTestKeys(b)
	pubDER, _ := x509.MarshalPKIXPublicKey(&platformKey.PublicKey)
	pk, err := wxpay.ParsePlatformKey(platformTestPubKeyID, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Register(wxpay.PlatformRegistration{Keys: []wxpay.PlatformKey{pk}}); err != nil {
		b.Fatal(err)
	}
	keys := &notifyPlatformKeys{mchID: "1900000299"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := keys.PlatformKey(platformTestPubKeyID); !ok {
				b.Fatal("miss")
			}
		}
	})
}
