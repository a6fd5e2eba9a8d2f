package emulator

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/signing"
)

// A Recorder sees each provider request with its body, the emulator still
// answers it from the same body, and hooks are not recorded.
func TestRecorder(t *testing.T) {
	var rec Recorder
	emu := New(Config{WxpayMerchants: []WxpayMerchant{{MchID: payMchID, Key: payKey}}, Record: rec.Record})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	req := map[string]string{"appid": payAppID, "mch_id": payMchID, "nonce_str": "n0nce", "out_trade_no": "REC-1",
		"body": "b", "total_fee": "7", "spbill_create_ip": "127.0.0.1", "notify_url": "http://127.0.0.1:9/n", "trade_type": "NATIVE", "product_id": "p"}
	sign, err := signing.WxpayV2Sign(req, payKey, signing.SignTypeMD5)
	if err != nil {
		t.Fatal(err)
	}
	req["sign"] = sign
	body := wxpayXML(req)
	resp, err := http.Post(srv.URL+"/pay/unifiedorder?x=1", "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), "<result_code><![CDATA[SUCCESS]]></result_code>") {
		t.Fatalf("the emulator did not get the recorded body: %s", answer)
	}
	if _, err := http.Get(srv.URL + "/_emulator/stats"); err != nil {
		t.Fatal(err)
	}
	got, ok := rec.Last("/pay/unifiedorder")
	if !ok || rec.Count("") != 1 {
		t.Fatalf("recorded %v", rec.Requests(""))
	}
	if got.Method != "POST" || got.Query.Get("x") != "1" || got.Header.Get("Content-Type") != "text/xml" || !bytes.Equal(got.Body, body) {
		t.Errorf("recorded %+v", got)
	}
	if f := got.Fields(); f["out_trade_no"] != "REC-1" || f["total_fee"] != "7" {
		t.Errorf("fields %v", f)
	}
	if got.ClientCert != "" {
		t.Errorf("client certificate %q on a plain connection", got.ClientCert)
	}
}
