package unicloud

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/signing"
)

// TestPaymentWxpayV2ThroughEmulator runs every WeChat Pay v2 call through
// Caddy against the emulator (WeChat Pay's side, written apart from the
// gateway), a Recorder showing what WeChat Pay received: orders of each
// client type, queries before and after paying, closing, a refund and a
// fund-flow bill over mutual TLS with the merchant certificate (which the
// emulator requires, CN = mch_id), the refund query and the bills; then
// answers signed with another key, which the gateway refuses.
func TestPaymentWxpayV2ThroughEmulator(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	pki := newPayPKI(t, payWxMchID) // WeChat Pay issues it with mch_id as password
	var rec emulator.Recorder
	var badSign atomic.Bool
	emu := emulator.New(emulator.Config{
		WxpayMerchants: []emulator.WxpayMerchant{{MchID: payWxMchID, Key: payWxKey, RequireCert: true}},
		Record:         rec.Record,
		BadSignature:   func(*http.Request) bool { return badSign.Load() },
	})
	srv := httptest.NewUnstartedServer(emu)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs: pki.caPool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(pki.caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
http://%s {
	handle_path /pay/wxpay/* {
		unicloud_payment wxpay {
			app_id %s
			mch_id %s
			key {env.UNICLOUD_PAY_TEST_KEY}
			pfx %s
			ca_cert %s
			notify_url http://127.0.0.1:1/notify/wxpay
			endpoint %s
		}
	}
}
`, addr, payWxAppID, payWxMchID, pki.pfxPath, caFile, srv.URL))
	base := "http://" + addr + "/pay/wxpay/"
	sent := func(t *testing.T, path string) (emulator.Recorded, map[string]string) {
		t.Helper()
		r, ok := rec.Last(path)
		if !ok {
			t.Fatalf("WeChat Pay received no %s", path)
		}
		return r, r.Fields()
	}

	status, m := payPost(t, base+"getOrderInfo", `{"openid":"oEmu1","body":"腾讯充值中心-QQ会员充值","outTradeNo":"e-1","totalFee":101,"clientType":"mp-weixin","attach":"x"}`)
	info, _ := m["orderInfo"].(map[string]any)
	if status != 200 || num(m["errCode"]) != 0 || !strings.HasPrefix(fmt.Sprint(info["package"]), "prepay_id=wx") || info["appId"] != payWxAppID {
		t.Fatalf("getOrderInfo mp-weixin: %d %v", status, m)
	}
	signed := map[string]string{"sign": fmt.Sprint(info["paySign"])}
	for _, k := range []string{"appId", "timeStamp", "nonceStr", "package", "signType"} {
		signed[k] = fmt.Sprint(info[k])
	}
	if err := signing.WxpayV2Verify(signed, payWxKey); err != nil {
		t.Errorf("paySign: %v", err)
	}
	_, f := sent(t, "/pay/unifiedorder")
	for k, want := range map[string]string{"trade_type": "JSAPI", "total_fee": "101", "out_trade_no": "e-1", "attach": "x",
		"notify_url": "http://127.0.0.1:1/notify/wxpay", "openid": "oEmu1", "appid": payWxAppID, "mch_id": payWxMchID} {
		if f[k] != want {
			t.Errorf("unifiedorder %s = %q, want %q", k, f[k], want)
		}
	}
	if _, ok := f["client_type"]; ok {
		t.Error("clientType sent to WeChat Pay")
	}

	status, m = payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"e-2","totalFee":"100"}`, "X-Unicloud-Client-Type", "app-plus")
	if info, _ := m["orderInfo"].(map[string]any); status != 200 || info["package"] != "Sign=WXPay" || info["partnerid"] != payWxMchID || info["prepayid"] == "" {
		t.Errorf("getOrderInfo app-plus: %d %v", status, m)
	}
	if _, f := sent(t, "/pay/unifiedorder"); f["trade_type"] != "APP" || f["total_fee"] != "100" {
		t.Errorf("unifiedorder app-plus %v", f)
	}
	_, m = payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"e-3","totalFee":1,"clientType":"native"}`)
	if info, _ := m["orderInfo"].(map[string]any); !strings.HasPrefix(fmt.Sprint(info["codeUrl"]), "weixin://wxpay/bizpayurl") {
		t.Errorf("native %v", m)
	}
	_, m = payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"e-4","totalFee":1,"clientType":"h5","spbillCreateIp":"203.0.113.7",`+
		`"sceneInfo":{"h5Info":{"type":"Wap","wapUrl":"https://pay.qq.com","wapName":"腾讯充值"}}}`)
	if info, _ := m["orderInfo"].(map[string]any); !strings.HasPrefix(fmt.Sprint(info["mwebUrl"]), "https://wx.tenpay.com/") {
		t.Errorf("h5 %v", m)
	}
	if _, f := sent(t, "/pay/unifiedorder"); f["scene_info"] != `{"h5_info":{"type":"Wap","wap_name":"腾讯充值","wap_url":"https://pay.qq.com"}}` || f["spbill_create_ip"] != "203.0.113.7" {
		t.Errorf("unifiedorder h5 %v", f)
	}

	if _, m = payPost(t, base+"orderQuery", `{"outTradeNo":"e-1"}`); m["tradeState"] != "NOTPAY" || num(m["totalFee"]) != 101 {
		t.Errorf("orderQuery before paying: %v", m)
	}
	// Paid: the notification goes nowhere (nothing listens on port 1),
	// the payment stands.
	res, err := emu.PayWxpayOrder(context.Background(), payWxMchID, "e-1")
	if err != nil {
		t.Fatal(err)
	}
	status, m = payPost(t, base+"orderQuery", `{"outTradeNo":"e-1"}`)
	if status != 200 || m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 101 || num(m["cashFee"]) != 101 ||
		m["transactionId"] != res.TransactionID || m["openid"] != "oEmu1" || m["appId"] != payWxAppID || m["mchId"] != payWxMchID {
		t.Errorf("orderQuery after paying: %d %v", status, m)
	}
	if status, m = payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"e-1","totalFee":101,"clientType":"app-plus"}`); status != 200 || m["errCode"] != "ORDERPAID" {
		t.Errorf("a paid order placed again: %d %v", status, m)
	}
	if _, m = payPost(t, base+"closeOrder", `{"outTradeNo":"e-3"}`); num(m["errCode"]) != 0 {
		t.Errorf("closeOrder: %v", m)
	}
	if _, m = payPost(t, base+"closeOrder", `{"outTradeNo":"e-1"}`); m["errCode"] != "ORDERPAID" {
		t.Errorf("closing a paid order: %v", m)
	}

	status, m = payPost(t, base+"refund", `{"outTradeNo":"e-1","outRefundNo":"er-1","totalFee":101,"refundFee":100,"refundDesc":"缺货"}`)
	if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 100 || m["refundId"] == "" || m["transactionId"] != res.TransactionID {
		t.Fatalf("refund: %d %v", status, m)
	}
	if r, f := sent(t, "/secapi/pay/refund"); r.ClientCert != payWxMchID || f["refund_desc"] != "缺货" || f["refund_fee"] != "100" || f["total_fee"] != "101" {
		t.Errorf("refund request (client certificate %q) %v", r.ClientCert, f)
	}
	status, m = payPost(t, base+"refundQuery", `{"outTradeNo":"e-1"}`)
	list, _ := m["refundList"].([]any)
	if status != 200 || num(m["totalFee"]) != 101 || len(list) != 1 {
		t.Fatalf("refundQuery: %d %v", status, m)
	}
	if item, _ := list[0].(map[string]any); item["outRefundNo"] != "er-1" || num(item["refundFee"]) != 100 || item["refundStatus"] != "SUCCESS" {
		t.Errorf("refund item %v", item)
	}

	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	for _, body := range []string{`{"billDate":"` + today + `"}`, `{"billDate":"` + today + `","tarType":"GZIP"}`} {
		status, m = payPost(t, base+"downloadBill", body)
		if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`e-1,") {
			t.Errorf("downloadBill %s: %d %v", body, status, m)
		}
	}
	if _, f := sent(t, "/pay/downloadbill"); f["bill_type"] != "ALL" || f["bill_date"] != today {
		t.Errorf("downloadbill request %v", f)
	}
	if status, m = payPost(t, base+"downloadBill", `{"billDate":"20000101"}`); status != 200 || m["errCode"] != "20002" {
		t.Errorf("a day without a bill: %d %v", status, m)
	}
	status, m = payPost(t, base+"downloadFundflow", `{"billDate":"`+today+`"}`)
	if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`1.01") {
		t.Errorf("downloadFundflow: %d %v", status, m)
	}
	if r, f := sent(t, "/pay/downloadfundflow"); r.ClientCert != payWxMchID || f["account_type"] != "Basic" || f["sign_type"] != "HMAC-SHA256" {
		t.Errorf("downloadfundflow request (client certificate %q) %v", r.ClientCert, f)
	}

	// Answers signed with a key that is not the merchant's: refused, and
	// nothing of them reaches the caller.
	badSign.Store(true)
	for _, call := range []string{"orderQuery", "getOrderInfo"} {
		status, m := payPost(t, base+call, `{"outTradeNo":"e-5","body":"b","totalFee":1,"clientType":"app-plus"}`)
		if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["orderInfo"] != nil || m["tradeState"] != nil {
			t.Errorf("%s answered with a bad signature: %d %v", call, status, m)
		}
	}
}
