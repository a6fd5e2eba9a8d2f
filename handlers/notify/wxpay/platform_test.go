package wxpay

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/internal/wxpaytest"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

const (
	platformTestSerial   = "5B1F3C2D4E6A7B8C9D0E1F2A3B4C5D6E7F809102"
	platformTestMerchant = "7F2C4B1A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B"
)

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

// autoConfig is the platform key store of a unicloud_payment wxpay handler
// of mchID with platform_certs auto, against f.
func autoConfig(f *platformFake, mchID string) handlers.PlatformStoreConfig {
	return handlers.PlatformStoreConfig{
		Endpoint: f.Server.URL + "/", MchID: mchID, Auto: true, SerialNo: platformTestMerchant,
		PrivateKey: wxpaytest.TestKeys().Merchant, APIv3Key: f.apiV3Key, Root: f.CAPEM, HTTP: f.Server.Client(),
	}
}

// A v3 notify handler with mch_id and no platform_key verifies with the
// platform key its merchant's store downloads.
func TestNotifyPlatformKeysFromStore(t *testing.T) {
	f := newPlatformFake(t, notifyTestV3Key)
	const mch = "1900000203" // no other test's merchant
	n, logs := provisionNotify(t, &Wxpay{MchID: mch, APIv3Key: notifyTestV3Key})
	platformKey := wxpaytest.TestKeys().Platform
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
	_, release, err := handlers.AcquirePlatformStore(platformTestContext(t), autoConfig(f, mch))
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
	if _, ok := n.verifier.PlatformKeys.(wxpay.PlatformKeySet); ok {
		t.Fatalf("key source %T: not the merchant's shared one", n.verifier.PlatformKeys)
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
	if _, ok := n2.verifier.PlatformKeys.(wxpay.PlatformKeySet); !ok {
		t.Fatalf("key source %T", n2.verifier.PlatformKeys)
	}
}

func TestNotifyValidateV3KeySources(t *testing.T) {
	for name, tc := range map[string]struct {
		n    Wxpay
		want string
	}{
		"mch_id, no platform_key": {Wxpay{MchID: notifyTestMchID, APIv3Key: notifyTestV3Key}, ""},
		"neither":                 {Wxpay{APIv3Key: notifyTestV3Key}, "platform_certs auto"},
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
