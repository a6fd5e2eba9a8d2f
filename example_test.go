package unicloud

import (
	"bytes"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleCaddyfile runs examples/Caddyfile (on free ports, without its
// admin endpoint) and makes the README's three calls.
func TestExampleCaddyfile(t *testing.T) {
	raw, err := os.ReadFile("examples/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	gw, emu, pay, backend := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cf := string(raw)
	for old, repl := range map[string]string{
		"admin localhost:2019":  "admin off\n\tpersist_config off\n\tlog {\n\t\toutput discard\n\t}",
		"\n\tlog\n":             "\n\tlog {\n\t\toutput discard\n\t}\n",
		"./examples/.data":      filepath.Join(t.TempDir(), "data"),
		"http://127.0.0.1:9100": "http://" + emu,
		"http://localhost:8080": "http://" + gw,
		"http://127.0.0.1:8090": "http://" + pay,
		"http://127.0.0.1:8081": "http://" + backend,
		"127.0.0.1:8081\n":      backend + "\n",
	} {
		if !strings.Contains(cf, old) {
			t.Fatalf("examples/Caddyfile no longer has %q", old)
		}
		cf = strings.ReplaceAll(cf, old, repl)
	}
	loadCaddy(t, cf)
	g := &gateway{t: t, base: "http://" + gw}
	a := g.post("/wx/auth/code2Session", map[string]any{"code": "demo-code"}).expect(t, 200, 0)
	if a.str("openid") == "" {
		t.Fatalf("code2Session: %s", a.raw)
	}
	a = g.post("/wx/urllink/generate", map[string]any{"path": "pages/index/index", "query": "a=1"}).expect(t, 200, 0)
	if !strings.HasPrefix(a.str("urlLink"), "https://") {
		t.Fatalf("urllink: %s", a.raw)
	}
	resp, err := testClient.Post(g.base+"/wx/wxacode/getUnlimited", "application/json", strings.NewReader(`{"scene":"id=42"}`))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("getUnlimited is not a PNG: %v", err)
	}
	// The example keeps the token to itself.
	g.post("/wx/auth/getAccessToken", map[string]any{}).expect(t, 403, "UNICLOUD_API_NOT_ALLOWED")

	// The payment flow: create, pay in the emulator, the verified
	// notification reaches the demo backend (which answers 204, so the
	// provider gets its success form).
	p := &gateway{t: t, base: "http://" + pay}
	a = p.post("/pay/wxpay/getOrderInfo", map[string]any{
		"openid": "oDemoUser", "body": "demo", "outTradeNo": "demo-1", "totalFee": 1, "clientType": "mp-weixin",
	}).expect(t, 200, 0)
	if info, _ := a.obj["orderInfo"].(map[string]any); info["paySign"] == nil {
		t.Fatalf("getOrderInfo: %s", a.raw)
	}
	paid := (&gateway{t: t, base: "http://" + emu}).do("POST", "/_emulator/wxpay/pay?out_trade_no=demo-1", "", nil, nil)
	if !strings.Contains(string(paid.raw), `"notify_status":200`) || !strings.Contains(string(paid.raw), "SUCCESS") {
		t.Fatalf("WeChat Pay notification not acknowledged: %s", paid.raw)
	}
	a = p.post("/pay/wxpay/orderQuery", map[string]any{"outTradeNo": "demo-1"}).expect(t, 200, 0)
	if a.str("tradeState") != "SUCCESS" {
		t.Fatalf("orderQuery: %s", a.raw)
	}
	p.post("/pay/alipay/getOrderInfo", map[string]any{
		"openid": "2088102146225135", "subject": "demo", "outTradeNo": "demo-2", "totalFee": 1234, "clientType": "mp-alipay",
	}).expect(t, 200, 0)
	paid = (&gateway{t: t, base: "http://" + emu}).do("POST", "/_emulator/alipay/pay", "application/x-www-form-urlencoded", []byte("out_trade_no=demo-2"), nil)
	if !strings.Contains(string(paid.raw), `"notify_status":200`) || !strings.Contains(string(paid.raw), `"notify_answer":"success"`) {
		t.Fatalf("Alipay notification not acknowledged: %s", paid.raw)
	}

	// The same merchant through APIv3: the notification is signed with a
	// platform certificate the gateway downloads (platform_certs auto).
	a = p.post("/pay/wxpay-v3/getOrderInfo", map[string]any{
		"openid": "oDemoUser", "body": "demo", "outTradeNo": "demo-v3-1", "totalFee": 1, "clientType": "mp-weixin",
	}).expect(t, 200, 0)
	if info, _ := a.obj["orderInfo"].(map[string]any); info["signType"] != "RSA" {
		t.Fatalf("v3 getOrderInfo: %s", a.raw)
	}
	paid = (&gateway{t: t, base: "http://" + emu}).do("POST", "/_emulator/wxpay/pay?out_trade_no=demo-v3-1", "", nil, nil)
	if !strings.Contains(string(paid.raw), `"notify_status":204`) {
		t.Fatalf("APIv3 notification not acknowledged: %s", paid.raw)
	}
	a = p.post("/pay/wxpay-v3/orderQuery", map[string]any{"outTradeNo": "demo-v3-1"}).expect(t, 200, 0)
	if a.str("tradeState") != "SUCCESS" {
		t.Fatalf("v3 orderQuery: %s", a.raw)
	}
}
