package unicloud

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/signing"
)

// startAlipayClientTypes runs the emulator's Alipay gateway, the payment
// API and the notification route in front of a backend; it returns the
// emulator's address, the gateway's base URL and the backend.
func startAlipayClientTypes(t *testing.T) (emu, base string, backend *payBackend) {
	t.Helper()
	payRSAKeys(t)
	backend, backendAddr := newPayBackend(t)
	dir := t.TempDir()
	files := map[string]string{
		"app_private_key.pem":    payKeys.appPEM,
		"app_public_key.pem":     pubPEMOf(&payKeys.app.PublicKey),
		"alipay_private_key.pem": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(payKeys.ali)})),
		"alipay_public_key.pem":  pubPEMOf(&payKeys.ali.PublicKey),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	emu, gw := freeAddr(t), freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		alipay_app %[3]s {file.%[4]s/app_public_key.pem} {file.%[4]s/alipay_private_key.pem}
	}
}

http://%[2]s {
	handle_path /pay/alipay/* {
		unicloud_payment alipay {
			app_id %[3]s
			private_key {file.%[4]s/app_private_key.pem}
			key_type PKCS1
			alipay_public_key {file.%[4]s/alipay_public_key.pem}
			notify_url http://%[2]s/notify/alipay
			endpoint http://%[1]s/gateway.do
		}
	}
	route /notify/alipay {
		unicloud_payment_notify alipay {
			app_id %[3]s
			alipay_public_key {file.%[4]s/alipay_public_key.pem}
		}
		reverse_proxy %[5]s
	}
}
`, emu, gw, payAliAppID, dir, backendAddr))
	return emu, "http://" + gw + "/pay/alipay/", backend
}

// emuPay tells the emulator to pay, as the payer would.
func emuPay(t *testing.T, emu string, form url.Values) map[string]any {
	t.Helper()
	resp, err := testClient.PostForm("http://"+emu+"/_emulator/alipay/pay", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("pay hook: %d %v %v", resp.StatusCode, m, err)
	}
	return m
}

// TestPaymentAlipayClientTypes: native through the emulator's precreate
// (orderInfo {qrCode}), h5 and web as pay URLs signed by the gateway with
// no call to Alipay (orderInfo {payUrl}), each paid and its notification
// handed to the backend in fen; the refusals name what to fix.
func TestPaymentAlipayClientTypes(t *testing.T) {
	emu, base, backend := startAlipayClientTypes(t)

	t.Run("native", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"subject":"扫码","outTradeNo":"ct-native-1","totalFee":10,"clientType":"native"}`)
		info, _ := m["orderInfo"].(map[string]any)
		qr, _ := info["qrCode"].(string)
		if status != 200 || num(m["errCode"]) != 0 || !strings.HasPrefix(qr, "https://qr.alipay.com/") || m["outTradeNo"] != "ct-native-1" || len(info) != 1 {
			t.Fatalf("%d %v", status, m)
		}
		if _, m = payPost(t, base+"orderQuery", `{"outTradeNo":"ct-native-1"}`); m["tradeState"] != "USERPAYING" || num(m["totalFee"]) != 10 {
			t.Errorf("before paying: %v", m)
		}
		emuPay(t, emu, url.Values{"out_trade_no": {"ct-native-1"}})
		if got := backend.next(t); got["outTradeNo"] != "ct-native-1" || num(got["totalFee"]) != 10 || got["tradeState"] != "SUCCESS" {
			t.Errorf("backend received %v", got)
		}
	})

	for _, tc := range []struct{ clientType, method, productCode string }{
		{"h5", "alipay.trade.wap.pay", "QUICK_WAP_WAY"},
		{"web", "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"},
	} {
		t.Run(tc.clientType, func(t *testing.T) {
			otn := "ct-" + tc.clientType + "-1"
			status, m := payPost(t, base+"getOrderInfo",
				`{"subject":"网页","outTradeNo":"`+otn+`","totalFee":123456,"returnUrl":"https://shop.example.com/paid?o=1","quitUrl":"https://shop.example.com/cart"}`,
				"X-Unicloud-Client-Type", tc.clientType)
			info, _ := m["orderInfo"].(map[string]any)
			payURL, _ := info["payUrl"].(string)
			prefix := "http://" + emu + "/gateway.do?"
			if status != 200 || num(m["errCode"]) != 0 || m["outTradeNo"] != otn || !strings.HasPrefix(payURL, prefix) {
				t.Fatalf("%d %v", status, m)
			}
			q, err := url.ParseQuery(strings.TrimPrefix(payURL, prefix))
			if err != nil {
				t.Fatal(err)
			}
			params := map[string]string{}
			for k := range q {
				params[k] = q.Get(k)
			}
			if err := signing.AlipayVerify(&payKeys.app.PublicKey, []byte(signing.AlipaySignContent(params, true)), params["sign"], "RSA2"); err != nil {
				t.Errorf("pay URL signature: %v", err)
			}
			var biz map[string]any
			json.Unmarshal([]byte(params["biz_content"]), &biz)
			if params["method"] != tc.method || params["app_id"] != payAliAppID || params["return_url"] != "https://shop.example.com/paid?o=1" ||
				!strings.HasSuffix(params["notify_url"], "/notify/alipay") || params["format"] != "JSON" || params["charset"] != "utf-8" || params["version"] != "1.0" ||
				biz["total_amount"] != "1234.56" || biz["product_code"] != tc.productCode || biz["quit_url"] != "https://shop.example.com/cart" || biz["out_trade_no"] != otn {
				t.Errorf("pay URL parameters %v, biz_content %v", params, biz)
			}
			// Signed locally: Alipay has no such trade until the payer opens the URL.
			if _, m = payPost(t, base+"orderQuery", `{"outTradeNo":"`+otn+`"}`); m["errCode"] != "ACQ.TRADE_NOT_EXIST" {
				t.Errorf("before the payer opened the URL: %v", m)
			}
			emuPay(t, emu, url.Values{"pay_url": {payURL}})
			if got := backend.next(t); got["outTradeNo"] != otn || num(got["totalFee"]) != 123456 {
				t.Errorf("backend received %v", got)
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		for body, want := range map[string][2]string{
			`{"clientType":"h5","outTradeNo":"r-1","totalFee":1}`:                       {"UNICLOUD_BAD_REQUEST", "subject"},
			`{"clientType":"web","subject":"s","totalFee":1}`:                           {"UNICLOUD_BAD_REQUEST", "outTradeNo"},
			`{"clientType":"native","subject":"s","outTradeNo":"r-1"}`:                  {"UNICLOUD_BAD_REQUEST", "totalFee"},
			`{"clientType":"h5","subject":"s","outTradeNo":"r-1","totalFee":1.5}`:       {"UNICLOUD_BAD_REQUEST", "integer number of fen: totalFee"},
			`{"clientType":"web","subject":"s","outTradeNo":"r-1","totalFee":0}`:        {"UNICLOUD_BAD_REQUEST", "at least 1 fen: totalFee"},
			`{"clientType":"native","subject":"s","outTradeNo":"r-1","totalFee":"-5"}`:  {"UNICLOUD_BAD_REQUEST", "integer number of fen: totalFee"},
			`{"clientType":"h5","subject":"s","outTradeNo":"r-1","totalAmount":"0.01"}`: {"UNICLOUD_BAD_REQUEST", "totalAmount"},
			`{"clientType":"mp-weixin","subject":"s","outTradeNo":"r-1","totalFee":1}`:  {"UNICLOUD_NOT_SUPPORTED", "mp-alipay, app-plus, native, h5, web"},
		} {
			status, m := payPost(t, base+"getOrderInfo", body)
			if status != 400 || m["errCode"] != want[0] || !strings.Contains(fmt.Sprint(m["errMsg"]), want[1]) {
				t.Errorf("%s: %d %v, want %v", body, status, m, want)
			}
		}
	})
}
