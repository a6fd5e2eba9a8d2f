package wxpaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	testMerchantSerial = "7F2C4B1A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B"
	testPlatformSerial = "5B1F3C2D4E6A7B8C9D0E1F2A3B4C5D6E7F809102"
	testAPIv3Key       = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
)

// errorsTB keeps the errors the fake reports instead of failing the test.
type errorsTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errors = append(e.errors, fmt.Sprintf(format, args...))
}

func download(t *testing.T, f *Certificates, mchID, serial string) (*http.Response, []byte) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	auth, err := signing.WxpayV3Authorization(mchID, serial, TestKeys().Merchant, "GET", "/v3/certificates", "", ts, signing.NonceStr())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.Server.URL+"/v3/certificates", nil)
	req.Header.Set("Authorization", auth)
	resp, err := f.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// The fake serves the platform certificate made here, encrypted with the
// APIv3 key, the answer signed with TestKeys' platform key, for any mchid;
// a request signed with another serial_no is refused and reported.
func TestCertificates(t *testing.T) {
	tb := &errorsTB{TB: t}
	f := NewCertificates(tb, CertificatesOptions{MerchantSerial: testMerchantSerial, PlatformSerial: testPlatformSerial, APIv3Key: testAPIv3Key})
	for _, mchID := range []string{"1900000201", "1900000202"} {
		resp, body := download(t, f, mchID, testMerchantSerial)
		if resp.StatusCode != 200 || resp.Header.Get("Wechatpay-Serial") != testPlatformSerial {
			t.Fatalf("%s: %d %v %s", mchID, resp.StatusCode, resp.Header, body)
		}
		if err := signing.WxpayV3Verify(&TestKeys().Platform.PublicKey, resp.Header.Get("Wechatpay-Timestamp"), resp.Header.Get("Wechatpay-Nonce"),
			body, resp.Header.Get("Wechatpay-Signature")); err != nil {
			t.Errorf("answer signature: %v", err)
		}
		var ans struct {
			Data []struct {
				SerialNo string            `json:"serial_no"`
				Enc      map[string]string `json:"encrypt_certificate"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ans); err != nil || len(ans.Data) != 1 || ans.Data[0].SerialNo != testPlatformSerial {
			t.Fatalf("answer %s", body)
		}
		e := ans.Data[0].Enc
		cert, err := signing.DecryptAEADAES256GCM(testAPIv3Key, e["associated_data"], e["nonce"], e["ciphertext"])
		if err != nil || string(cert) != f.CertPEM {
			t.Errorf("certificate %q, %v", cert, err)
		}
	}
	if n := f.Downloads.Load(); n != 2 {
		t.Errorf("Downloads = %d, want 2", n)
	}
	if resp, _ := download(t, f, "1900000201", "00AA"); resp.StatusCode != 401 || len(tb.errors) != 1 {
		t.Errorf("another serial_no: %d, reported %v", resp.StatusCode, tb.errors)
	}
}
