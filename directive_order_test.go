package unicloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// A verifier is middleware: wherever a Caddyfile puts it, it must run before
// anything in the same block that answers the request. Caddy sorts the
// directives of a block by their registered order, not by how they are
// written, so a verifier ordered after `respond` would be skipped by
// `respond "got it" 200`: a forged notification would get 200.
func TestDirectiveOrderVerifierRunsBeforeTerminalDirectives(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	caddyfile := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	handle /handle/wxpay {
		unicloud_payment_notify wxpay {
			mch_id %[2]s
			key %[3]s
		}
		respond "got it" 200
	}
	handle /handle/abort {
		unicloud_payment_notify wxpay {
			mch_id %[2]s
			key %[3]s
		}
		error "backend down" 503
	}
	# At the top level of the site, next to a handle block that answers.
	unicloud_payment_notify /top/* wxpay {
		mch_id %[2]s
		key %[3]s
	}
	handle /top/* {
		respond "got it" 200
	}
	respond "not here" 404
}
`, addr, notifyITMchID, notifyITV2Key)
	loadCaddy(t, caddyfile)

	genuine, err := emulator.WxpayV2PaymentNotification(emulator.NotifyOrder{
		AppID: notifyITAppID, MchID: notifyITMchID, OutTradeNo: "ORDER-1", TransactionID: "4200000000000000042",
		TotalFee: 1, CashFee: 1, OpenID: "oPayer", Time: time.Now(),
	}, notifyITV2Key, "MD5")
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(genuine.Body, []byte("ORDER-1"), []byte("ORDER-2"), 1)
	if bytes.Equal(forged, genuine.Body) {
		t.Fatal("the forgery changed nothing")
	}

	post := func(path string, body []byte) (int, string) {
		t.Helper()
		resp, err := testClient.Post("http://"+addr+path, "text/xml", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, path := range []string{"/handle/wxpay", "/top/wxpay"} {
		status, body := post(path, forged)
		if status != http.StatusUnauthorized || strings.Contains(body, "got it") || !strings.Contains(body, "FAIL") {
			t.Errorf("%s: forged notification answered %d %q, want 401 with the FAIL form", path, status, body)
		}
		status, body = post(path, genuine.Body)
		if status != http.StatusOK || !strings.Contains(body, "<return_code><![CDATA[SUCCESS]]></return_code>") {
			t.Errorf("%s: genuine notification answered %d %q, want 200 SUCCESS (respond is the backend)", path, status, body)
		}
	}
	// error (a terminal directive ordered before respond) is the backend
	// too: a forged notification never reaches it, a genuine one gets the
	// failure form because the backend did not answer 2xx.
	if status, body := post("/handle/abort", forged); status != http.StatusUnauthorized {
		t.Errorf("forged notification before error: %d %q, want 401", status, body)
	}
	if status, body := post("/handle/abort", genuine.Body); status != http.StatusInternalServerError || !strings.Contains(body, "FAIL") {
		t.Errorf("genuine notification before a failing backend: %d %q, want 500 FAIL", status, body)
	}
}

// The two verifiers keep their places right after forward_auth: the payment
// notification verifier first, then the message-push verifier, however a
// block writes them.
func TestDirectiveOrderVerifiers(t *testing.T) {
	cfg := string(adaptCaddyfile(t, `:8080 {
	unicloud_message_notify weixin {
		token t
	}
	unicloud_payment_notify wxpay {
		key 192006250b4c09247ec02edce69f6a2d
	}
	forward_auth 127.0.0.1:9 {
		uri /auth
	}
	respond "ok" 200
}
`))
	auth, pay, msg := strings.Index(cfg, `"/auth"`), strings.Index(cfg, `"unicloud_payment_notify"`), strings.Index(cfg, `"unicloud_message_notify"`)
	if auth < 0 || pay < 0 || msg < 0 || !(auth < pay && pay < msg) {
		t.Fatalf("order: forward_auth %d, unicloud_payment_notify %d, unicloud_message_notify %d, want in this order:\n%s", auth, pay, msg, cfg)
	}
}
