package unicloud

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// payBackend is the demo backend behind unicloud_payment_notify: it keeps
// what it receives.
type payBackend struct {
	mu  sync.Mutex
	got []map[string]any
	hdr []http.Header
	ch  chan struct{}
}

func newPayBackend(t *testing.T) (*payBackend, string) {
	b := &payBackend{ch: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.got = append(b.got, m)
		b.hdr = append(b.hdr, r.Header.Clone())
		b.mu.Unlock()
		b.ch <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return b, strings.TrimPrefix(srv.URL, "http://")
}

// next waits for the next notification the backend receives.
func (b *payBackend) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case <-b.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend received nothing")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[len(b.got)-1]
}

// TestPaymentFlowThroughEmulator is the offline example's flow: the
// gateway places an order with the emulator, the emulator is told to pay
// it and sends the signed notification to the gateway's notify route,
// which verifies it and hands clean JSON to the backend.
func TestPaymentFlowThroughEmulator(t *testing.T) {
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
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		wxpay_merchant %[3]s %[4]s
		alipay_app %[5]s {file.%[6]s/app_public_key.pem} {file.%[6]s/alipay_private_key.pem}
	}
}

http://%[2]s {
	handle_path /pay/wxpay/* {
		unicloud_payment wxpay {
			app_id %[8]s
			mch_id %[3]s
			key %[4]s
			notify_url http://%[2]s/notify/wxpay
			endpoint http://%[1]s
		}
	}
	handle_path /pay/alipay/* {
		unicloud_payment alipay {
			app_id %[5]s
			private_key {file.%[6]s/app_private_key.pem}
			key_type PKCS1
			alipay_public_key {file.%[6]s/alipay_public_key.pem}
			notify_url http://%[2]s/notify/alipay
			endpoint http://%[1]s/gateway.do
		}
	}
	route /notify/wxpay {
		unicloud_payment_notify wxpay {
			app_id %[8]s
			mch_id %[3]s
			key %[4]s
		}
		reverse_proxy %[7]s
	}
	route /notify/alipay {
		unicloud_payment_notify alipay {
			app_id %[5]s
			alipay_public_key {file.%[6]s/alipay_public_key.pem}
		}
		reverse_proxy %[7]s
	}
}
`, emu, gw, payWxMchID, payWxKey, payAliAppID, dir, backendAddr, payWxAppID)
	loadCaddy(t, cf)
	base := "http://" + gw

	hook := func(t *testing.T, u string, form url.Values) map[string]any {
		t.Helper()
		resp, err := testClient.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("hook %s: %d %v %v", u, resp.StatusCode, m, err)
		}
		return m
	}

	t.Run("wxpay", func(t *testing.T) {
		status, m := payPost(t, base+"/pay/wxpay/getOrderInfo", `{"openid":"oFlow1","body":"demo","outTradeNo":"flow-wx-1","totalFee":88,"clientType":"mp-weixin"}`)
		if status != 200 || num(m["errCode"]) != 0 {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		_, m = payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"flow-wx-1"}`)
		if m["tradeState"] != "NOTPAY" {
			t.Errorf("before paying: %v", m)
		}
		res := hook(t, "http://"+emu+"/_emulator/wxpay/pay?out_trade_no=flow-wx-1", nil)
		if num(res["notify_status"]) != 200 || !strings.Contains(fmt.Sprint(res["notify_answer"]), "<return_code><![CDATA[SUCCESS]]></return_code>") {
			t.Errorf("pay: %v", res)
		}
		got := backend.next(t)
		if got["provider"] != "wxpay" || got["type"] != "payment" || got["outTradeNo"] != "flow-wx-1" || num(got["totalFee"]) != 88 ||
			got["openid"] != "oFlow1" || got["tradeState"] != "SUCCESS" || got["transactionId"] != res["transaction_id"] {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"flow-wx-1"}`)
		if m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 88 {
			t.Errorf("after paying: %v", m)
		}
		// A refund without the merchant certificate is refused by the
		// gateway; the emulator's own refund path is tested in emulator/.
		status, m = payPost(t, base+"/pay/wxpay/refund", `{"outTradeNo":"flow-wx-1","outRefundNo":"flow-wr-1","totalFee":88,"refundFee":88}`)
		if status != 400 || m["errCode"] != "UNICLOUD_NOT_SUPPORTED" {
			t.Errorf("refund without pfx: %d %v", status, m)
		}
		status, m = payPost(t, base+"/pay/wxpay/downloadBill", `{"billDate":"`+time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")+`"}`)
		if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`flow-wx-1,") {
			t.Errorf("bill: %d %v", status, m)
		}
	})
	t.Run("alipay mini-program", func(t *testing.T) {
		status, m := payPost(t, base+"/pay/alipay/getOrderInfo", `{"openid":"2088102146225135","subject":"demo","outTradeNo":"flow-ali-1","totalFee":1234,"clientType":"mp-alipay"}`)
		info, _ := m["orderInfo"].(map[string]any)
		if status != 200 || info["tradeNo"] == nil {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		res := hook(t, "http://"+emu+"/_emulator/alipay/pay", url.Values{"out_trade_no": {"flow-ali-1"}})
		if num(res["notify_status"]) != 200 || res["notify_answer"] != "success" || res["transaction_id"] != info["tradeNo"] {
			t.Errorf("pay: %v", res)
		}
		got := backend.next(t)
		if got["provider"] != "alipay" || got["type"] != "payment" || got["outTradeNo"] != "flow-ali-1" || num(got["totalFee"]) != 1234 ||
			got["tradeState"] != "SUCCESS" || got["transactionId"] != info["tradeNo"] {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/pay/alipay/orderQuery", `{"outTradeNo":"flow-ali-1"}`)
		if m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 1234 || num(m["cashFee"]) != 1234 {
			t.Errorf("after paying: %v", m)
		}
		status, m = payPost(t, base+"/pay/alipay/refund", `{"outTradeNo":"flow-ali-1","outRefundNo":"flow-ar-1","refundFee":34}`)
		if status != 200 || num(m["refundFee"]) != 34 {
			t.Errorf("refund: %d %v", status, m)
		}
		got = backend.next(t)
		if got["type"] != "refund" || num(got["refundFee"]) != 34 || got["outTradeNo"] != "flow-ali-1" {
			t.Errorf("backend received %v", got)
		}
		status, m = payPost(t, base+"/pay/alipay/refundQuery", `{"outTradeNo":"flow-ali-1","outRefundNo":"flow-ar-1"}`)
		if status != 200 || num(m["refundFee"]) != 34 || num(m["totalFee"]) != 1234 {
			t.Errorf("refundQuery: %d %v", status, m)
		}
	})
	t.Run("alipay app", func(t *testing.T) {
		status, m := payPost(t, base+"/pay/alipay/getOrderInfo", `{"subject":"demo","outTradeNo":"flow-ali-2","totalFee":5}`, "X-Unicloud-Client-Type", "app-plus")
		s, _ := m["orderInfo"].(string)
		if status != 200 || s == "" {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		res := hook(t, "http://"+emu+"/_emulator/alipay/pay", url.Values{"order_string": {s}})
		if num(res["notify_status"]) != 200 {
			t.Errorf("pay: %v", res)
		}
		if got := backend.next(t); got["outTradeNo"] != "flow-ali-2" || num(got["totalFee"]) != 5 {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/pay/alipay/closeOrder", `{"outTradeNo":"flow-ali-2"}`)
		if m["errCode"] != "ACQ.TRADE_STATUS_ERROR" {
			t.Errorf("closing a paid trade: %v", m)
		}
		_, m = payPost(t, base+"/pay/alipay/cancelOrder", `{"outTradeNo":"flow-ali-2"}`)
		if num(m["errCode"]) != 0 || m["action"] != "refund" {
			t.Errorf("cancel: %v", m)
		}
	})
}
