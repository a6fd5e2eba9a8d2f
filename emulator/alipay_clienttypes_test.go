package emulator

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/signing"
)

// alipay.trade.precreate places a trade without a payer and answers its
// QR code; paying it by out_trade_no sends the notification.
func TestAlipayPrecreate(t *testing.T) {
	emu, _, c := newAliEmulator(t, true)
	sink := newNotifySink(t, "success")
	ctx := context.Background()
	f, err := c.Execute(ctx, aliTradePrecreate, []byte(`{"out_trade_no":"QR-1","total_amount":"0.10","subject":"s"}`), map[string]string{"notify_url": sink.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if qr, _ := f["qr_code"].(string); f["out_trade_no"] != "QR-1" || !strings.HasPrefix(qr, "https://qr.alipay.com/") {
		t.Fatalf("precreate answer %v", f)
	}
	if _, err := emu.PayAlipayOrder(ctx, aliAppID, "QR-1", ""); err != nil {
		t.Fatal(err)
	}
	sink.wait(t)
	if q, err := c.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"QR-1"}`), nil); err != nil || q["trade_status"] != "TRADE_SUCCESS" || q["total_amount"] != "0.10" {
		t.Errorf("query: %v %v", q, err)
	}
	for biz, sub := range map[string]string{
		`{"total_amount":"0.10","subject":"s"}`:                       "ACQ.INVALID_PARAMETER",
		`{"out_trade_no":"QR-2","total_amount":"0.1x","subject":"s"}`: "ACQ.INVALID_PARAMETER",
	} {
		if _, err := c.Execute(ctx, aliTradePrecreate, []byte(biz), nil); !isAliBiz(err, sub) {
			t.Errorf("%s: %v, want %s", biz, err, sub)
		}
	}
}

// The pay hook takes the pay URL of wap.pay and page.pay (pay_url), checks
// its sign and pays its trade; another method is refused.
func TestAlipayPayURLHook(t *testing.T) {
	_, srv, c := newAliEmulator(t, true)
	sink := newNotifySink(t, "success")
	for i, method := range []string{aliTradeWapPay, aliTradePagePay} {
		otn := "URL-" + string(rune('1'+i))
		q, err := c.OrderString(method, []byte(`{"out_trade_no":"`+otn+`","total_amount":"1.00","subject":"s"}`), map[string]string{"notify_url": sink.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.PostForm(srv.URL+"/_emulator/alipay/pay", url.Values{"pay_url": {srv.URL + "/gateway.do?" + q}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"total_fee":100`) {
			t.Fatalf("%s: pay hook %d %s", method, resp.StatusCode, body)
		}
		sink.wait(t)
	}
	q, _ := c.OrderString(aliTradeQuery, []byte(`{"out_trade_no":"URL-1"}`), nil)
	resp, err := http.PostForm(srv.URL+"/_emulator/alipay/pay", url.Values{"pay_url": {srv.URL + "/gateway.do?" + q}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a trade.query URL: %d, want 400", resp.StatusCode)
	}
}

// A wap.pay URL opened in a browser is the cashier page; its "pay" pays
// the trade, sends the notification and sends the browser to return_url
// with the signed synchronous return. A changed URL is refused.
func TestAlipayCashierPage(t *testing.T) {
	emu, srv, c := newAliEmulator(t, true)
	sink := newNotifySink(t, "success")
	q, err := c.OrderString(aliTradeWapPay, []byte(`{"out_trade_no":"CASH-1","total_amount":"12.34","subject":"<b>demo</b>","product_code":"QUICK_WAP_WAY"}`),
		map[string]string{"notify_url": sink.srv.URL, "return_url": "https://shop.example.com/paid?o=1"})
	if err != nil {
		t.Fatal(err)
	}
	payURL := srv.URL + "/gateway.do?" + q
	resp, err := http.Get(payURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "&lt;b&gt;demo&lt;/b&gt;: ¥12.34") || !strings.Contains(string(page), `name="pay_url"`) {
		t.Fatalf("cashier: %d %s", resp.StatusCode, page)
	}
	tampered, _ := http.Get(strings.Replace(payURL, "12.34", "0.01", 1))
	if body, _ := io.ReadAll(tampered.Body); !strings.Contains(string(body), "isv.invalid-signature") {
		t.Errorf("tampered URL: %s", body)
	}
	tampered.Body.Close()

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.PostForm(srv.URL+"/_emulator/alipay/pay", url.Values{"pay_url": {"/gateway.do?" + q}, "return": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Host != "shop.example.com" || loc.Path != "/paid" {
		t.Fatalf("after paying: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ret := map[string]string{}
	for k := range loc.Query() {
		ret[k] = loc.Query().Get(k)
	}
	if ret["o"] != "1" || ret["out_trade_no"] != "CASH-1" || ret["total_amount"] != "12.34" || ret["method"] != "alipay.trade.wap.pay.return" || ret["trade_no"] == "" {
		t.Errorf("return %v", ret)
	}
	if err := signing.AlipayVerify(c.AlipayPublicKey, []byte(signing.AlipaySignContent(ret, false)), ret["sign"], "RSA2"); err != nil {
		t.Errorf("return sign: %v", err)
	}
	sink.wait(t)
	if _, err := emu.PayAlipayOrder(context.Background(), aliAppID, "CASH-1", ""); err != nil {
		t.Errorf("the trade was not placed: %v", err)
	}
}
