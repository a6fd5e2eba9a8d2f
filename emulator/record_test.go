package emulator

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// Config.BadSignature signs the answers it picks with a key that is not
// the provider's: each provider's client refuses them, and only them.
func TestBadSignature(t *testing.T) {
	v3Keys(t)
	app, ali := aliKeys(t)
	var bad atomic.Bool
	emu := New(Config{
		WxpayMerchants:   []WxpayMerchant{{MchID: payMchID, Key: payKey}},
		WxpayV3Merchants: []WxpayV3Merchant{{MchID: v3MchID, APIv3Key: v3Key, MerchantKey: v3TestKeys.certPEM}},
		AlipayApps: []AlipayApp{{AppID: aliAppID, AppPublicKey: pubPEM(&app.PublicKey),
			AlipayPrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(ali)}))}},
		BadSignature: func(*http.Request) bool { return bad.Load() },
	})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	ctx := context.Background()
	v2 := payClient(srv.URL, srv.Client(), "")
	v3 := newV3Client(srv, v3MchID, platformKeys(t, emu, v3MchID))
	alic := &aliClient{AppID: aliAppID, PrivateKey: app, AlipayPublicKey: &ali.PublicKey, Endpoint: srv.URL + "/gateway.do", HTTP: srv.Client()}
	calls := map[string]func() error{
		"v2": func() error {
			_, err := v2.Call(ctx, v2OrderQuery, map[string]string{"out_trade_no": "x"})
			return err
		},
		"v3": func() error {
			_, err := v3.QueryOrder(ctx, "", "x")
			return err
		},
		"alipay": func() error {
			_, err := alic.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"x"}`), nil)
			return err
		},
	}
	wantBad := map[string]error{"v2": errV2Signature, "v3": errV3Signature, "alipay": errAliSignature}
	for name, call := range calls {
		bad.Store(false)
		if err := call(); errors.Is(err, wantBad[name]) || err == nil {
			t.Errorf("%s: %v, want the provider's signed refusal", name, err)
		}
		bad.Store(true)
		if err := call(); !errors.Is(err, wantBad[name]) {
			t.Errorf("%s with BadSignature: %v, want %v", name, err, wantBad[name])
		}
	}
}
