package unicloud

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/internal/wxpaytest"
)

// Platform keys in real Caddy configs: a notify route verifies APIv3
// notifications with a platform key it learns only by downloading
// /v3/certificates (platform_certs auto of the merchant's unicloud_payment
// handler), and Caddy instances sharing a storage download once.

const (
	platITMchID    = "1900000321"
	platITAppID    = "wx00000000000000f3"
	platITV3Key    = "Zq3uV8yB2nE5hK7mP1sT4wX6aC9dF0gJ"
	platITMerchant = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
	platITSerial   = "3A1F6C0E9B8D7A6F5E4D3C2B1A09F8E7D6C5B4A3"
)

// platITFake stands in for WeChat Pay's GET /v3/certificates (wxpaytest),
// with the merchant key and the CA as files for the Caddyfile.
type platITFake struct {
	*wxpaytest.Certificates
	dir string
}

func newPlatITFake(t *testing.T, delay time.Duration) *platITFake {
	t.Helper()
	f := &platITFake{
		Certificates: wxpaytest.NewCertificates(t, wxpaytest.CertificatesOptions{
			MchID: platITMchID, MerchantSerial: platITMerchant, PlatformSerial: platITSerial,
			APIv3Key: platITV3Key, Delay: delay,
		}),
		dir: t.TempDir(),
	}
	for name, content := range map[string]string{"apiclient_key.pem": f.MerchantKeyPEM, "root.pem": f.CAPEM} {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// platITCaddyfile is a site with the merchant's v3 payment API
// (platform_certs auto, platform_root) and a notify route that has no
// platform_key of its own, plus a notify route of a merchant without any
// payment handler.
func platITCaddyfile(f *platITFake, addr, storage string) string {
	return globalOptions(storage, "") + fmt.Sprintf(`
http://%s {
	route /pay/* {
		unicloud_payment wxpay {
			version v3
			app_id %s
			mch_id %s
			private_key {file.%s}
			serial_no %s
			api_v3_key %s
			platform_certs auto
			platform_root {file.%s}
			endpoint %s
		}
	}
	route /notify/wxpay {
		unicloud_payment_notify wxpay {
			mch_id %s
			api_v3_key %s
		}
		respond "backend ok" 200
	}
	route /notify/other {
		unicloud_payment_notify wxpay {
			mch_id 1900000999
			api_v3_key %s
		}
		respond "backend ok" 200
	}
	respond "not here" 404
}
`, addr, platITAppID, platITMchID, filepath.Join(f.dir, "apiclient_key.pem"), platITMerchant, platITV3Key,
		filepath.Join(f.dir, "root.pem"), f.Server.URL, platITMchID, platITV3Key, platITV3Key)
}

// platITNotify posts a v3 payment notification signed with the platform
// key and returns the status and answer.
func platITNotify(t *testing.T, base, path, outTradeNo string) (int, string) {
	t.Helper()
	m, err := emulator.WxpayV3TransactionNotification(emulator.NotifyOrder{
		AppID: platITAppID, MchID: platITMchID, OutTradeNo: outTradeNo, TransactionID: "4200000000000000321",
		TotalFee: 100, CashFee: 100, OpenID: "oPayer", Time: time.Now(),
	}, emulator.WxpayV3NotifySigner{PlatformKey: wxpaytest.TestKeys().Platform, Serial: platITSerial, APIv3Key: platITV3Key})
	if err != nil {
		t.Fatal(err)
	}
	r := testSend(t, http.MethodPost, base+path, m.Header, m.Body)
	return r.Status, string(r.Body)
}

func TestPlatformKeysLearnedByDownload(t *testing.T) {
	f := newPlatITFake(t, 0)
	addr := freeAddr(t)
	cf := platITCaddyfile(f, addr, filepath.Join(t.TempDir(), "storage"))
	loadCaddy(t, cf)
	base := "http://" + addr
	if n := f.Downloads.Load(); n != 0 {
		t.Fatalf("%d downloads at provisioning", n)
	}
	for i := range 3 {
		status, body := platITNotify(t, base, "/notify/wxpay", "ORDER-"+strconv.Itoa(i))
		if status != http.StatusNoContent {
			t.Fatalf("notification %d: %d %s", i, status, body)
		}
	}
	if n := f.Downloads.Load(); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
	// A config reload keeps the merchant's store: no new download.
	reloadCaddy(t, cf, base+"/")
	if status, body := platITNotify(t, base, "/notify/wxpay", "ORDER-R"); status != http.StatusNoContent {
		t.Fatalf("after reload: %d %s", status, body)
	}
	if n := f.Downloads.Load(); n != 1 {
		t.Fatalf("%d downloads after a reload, want 1", n)
	}
	// A merchant with no platform_key and no platform_certs auto anywhere:
	// refused with the serial check.
	status, body := platITNotify(t, base, "/notify/other", "ORDER-X")
	if status != http.StatusUnauthorized || !strings.Contains(body, "serial") {
		t.Fatalf("merchant without platform keys: %d %s", status, body)
	}
}

func TestPlatformKeysTwoInstancesDownloadOnce(t *testing.T) {
	f := newPlatITFake(t, 300*time.Millisecond)
	storage := filepath.Join(t.TempDir(), "storage")
	bases := make([]string, 2)
	for i := range bases {
		addr := freeAddr(t)
		startChildCaddy(t, platITCaddyfile(f, addr, storage))
		bases[i] = "http://" + addr
	}
	// Both instances meet the platform serial at the same time.
	var wg sync.WaitGroup
	for i, base := range bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := platITNotify(t, base, "/notify/wxpay", "ORDER-A"+strconv.Itoa(i))
			if status != http.StatusNoContent {
				t.Errorf("instance %d: %d %s", i, status, body)
			}
		}()
	}
	wg.Wait()
	for i, base := range bases {
		if status, body := platITNotify(t, base, "/notify/wxpay", "ORDER-B"+strconv.Itoa(i)); status != http.StatusNoContent {
			t.Fatalf("instance %d again: %d %s", i, status, body)
		}
	}
	if n := f.Downloads.Load(); n != 1 {
		t.Fatalf("%d downloads by two instances sharing a storage, want 1", n)
	}
	files, _ := filepath.Glob(filepath.Join(storage, "unicloud", "wxpay", "platform", "*.json"))
	if len(files) != 1 {
		t.Fatalf("stored platform certificates: %v", files)
	}
}
