package unicloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleCaddyfileListensOnLoopback adapts examples/Caddyfile as it is
// and checks that every site listens on 127.0.0.1 only: a site address is a
// Host matcher, and without `bind` its listener takes every interface.
func TestExampleCaddyfileListensOnLoopback(t *testing.T) {
	raw, err := os.ReadFile("examples/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen      []string `json:"listen"`
					ReadTimeout int64    `json:"read_timeout"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adaptCaddyfile(t, string(raw)), &cfg); err != nil {
		t.Fatal(err)
	}
	ports := map[string]bool{}
	for name, srv := range cfg.Apps.HTTP.Servers {
		if len(srv.Listen) == 0 {
			t.Errorf("server %s has no listen address", name)
		}
		for _, l := range srv.Listen {
			host, port, err := net.SplitHostPort(l)
			if err != nil || host != "127.0.0.1" {
				t.Errorf("server %s listens on %q, want 127.0.0.1 only (bind 127.0.0.1)", name, l)
			}
			ports[port] = true
		}
		// The notification routes are public in production: the example
		// shows the body read timeout they need.
		if time.Duration(srv.ReadTimeout) != 10*time.Second {
			t.Errorf("server %s: read_timeout %v, want read_body 10s", name, time.Duration(srv.ReadTimeout))
		}
	}
	for _, port := range []string{"8080", "8081", "8090", "9100"} {
		if !ports[port] {
			t.Errorf("no server on 127.0.0.1:%s", port)
		}
	}
}

// TestExampleCaddyfile runs examples/Caddyfile (on free ports, without its
// admin endpoint) and makes the README's calls.
func TestExampleCaddyfile(t *testing.T) {
	raw, err := os.ReadFile("examples/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	gw, emu, pay, backend := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	_, gwPort, _ := net.SplitHostPort(gw)
	_, backendPort, _ := net.SplitHostPort(backend)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	data := filepath.Join(t.TempDir(), "data")
	cf := string(raw)
	for old, repl := range map[string]string{
		"admin localhost:2019":  "admin off\n\tpersist_config off\n\tlog {\n\t\toutput file " + logFile + "\n\t\tformat json\n\t}",
		"./examples/.data":      data,
		"{file.examples/.data/": "{file." + data + "/",
		"http://127.0.0.1:9100": "http://" + emu,
		// The gateway keeps its name: notifications reach the backend
		// with Host localhost:…, as they do when the example runs.
		"localhost:8080":        "localhost:" + gwPort,
		"http://127.0.0.1:8090": "http://" + pay,
		"http://:8081":          "http://:" + backendPort,
		"127.0.0.1:8081\n":      backend + "\n",
	} {
		if !strings.Contains(cf, old) {
			t.Fatalf("examples/Caddyfile no longer has %q", old)
		}
		cf = strings.ReplaceAll(cf, old, repl)
	}
	loadCaddy(t, cf)
	g := &gateway{t: t, base: "http://localhost:" + gwPort}
	a := g.post("/wx/auth/code2Session", map[string]any{"code": "demo-code"}).expect(t, 200, 0)
	if a.str("openid") == "" {
		t.Fatalf("code2Session: %s", a.raw)
	}
	// A code works once; demo-code.2 is the same user's next login.
	g.post("/wx/auth/code2Session", map[string]any{"code": "demo-code"}).expect(t, 200, 40163)
	if again := g.post("/wx/auth/code2Session", map[string]any{"code": "demo-code.2"}).expect(t, 200, 0); again.str("openid") != a.str("openid") {
		t.Fatalf("demo-code.2 logged another user in: %s, first %s", again.raw, a.raw)
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

	// The official-account page: login, wx.config, a JSAPI order with the
	// official account's appid and the openid of its login.
	oa := g.post("/wx/h5/oauth/code2Session", map[string]any{"code": "oa-user"}).expect(t, 200, 0)
	if oa.str("openid") == "" || oa.obj["accessToken"] != nil || oa.obj["refreshToken"] != nil {
		t.Fatalf("h5.oauth.code2Session: %s", oa.raw)
	}
	g.post("/wx/h5/oauth/getUserInfo", map[string]any{"openid": oa.str("openid")}).expect(t, 200, 0)
	if c := g.post("/wx/h5/jssdk/getConfig", map[string]any{"url": "https://h5.example.com/shop/#/cart"}).expect(t, 200, 0); c.str("appId") != "wxdemo00000000oa1" ||
		c.str("url") != "https://h5.example.com/shop/" || c.str("signature") == "" {
		t.Fatalf("h5.jssdk.getConfig: %s", c.raw)
	}
	p := &gateway{t: t, base: "http://" + pay}
	a = p.post("/pay/wxpay/getOrderInfo", map[string]any{
		"openid": oa.str("openid"), "body": "demo", "outTradeNo": "demo-oa-1", "totalFee": 1, "clientType": "h5-weixin",
	}).expect(t, 200, 0)
	if info, _ := a.obj["orderInfo"].(map[string]any); info["appId"] != "wxdemo00000000oa1" || info["paySign"] == nil ||
		!strings.HasPrefix(fmt.Sprint(info["package"]), "prepay_id=") {
		t.Fatalf("getOrderInfo h5-weixin: %s", a.raw)
	}

	// The payment flow: create, pay in the emulator, the verified
	// notification reaches the demo backend (which answers 204, so the
	// provider gets its success form).
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
	// The demo backend logged the verified notification it received (it
	// answered before the provider got its acknowledgement).
	backendLogged(t, logFile, "wxpay", "demo-1")
	p.post("/pay/alipay/getOrderInfo", map[string]any{
		"openid": "2088102146225135", "subject": "demo", "outTradeNo": "demo-2", "totalFee": 1234, "clientType": "mp-alipay",
	}).expect(t, 200, 0)
	paid = (&gateway{t: t, base: "http://" + emu}).do("POST", "/_emulator/alipay/pay", "application/x-www-form-urlencoded", []byte("out_trade_no=demo-2"), nil)
	if !strings.Contains(string(paid.raw), `"notify_status":200`) || !strings.Contains(string(paid.raw), `"notify_answer":"success"`) {
		t.Fatalf("Alipay notification not acknowledged: %s", paid.raw)
	}
	backendLogged(t, logFile, "alipay", "demo-2")

	// The Alipay mini-program in certificate mode: login (no token in the
	// answer), the member's information with the kept token, the phone
	// number the emulator makes for my.getPhoneNumber.
	ali := g.post("/ali/auth/code2Session", map[string]any{"code": "ali-user"}).expect(t, 200, 0)
	if ali.str("openid") == "" || ali.obj["accessToken"] != nil {
		t.Fatalf("alipay code2Session: %s", ali.raw)
	}
	if u := g.post("/ali/auth/getUserInfo", map[string]any{"openid": ali.str("openid")}).expect(t, 200, 0); u.obj["nickName"] == nil {
		t.Fatalf("alipay getUserInfo: %s", u.raw)
	}
	phone := (&gateway{t: t, base: "http://" + emu}).do("POST", "/_emulator/alipay/test/phoneNumber", "application/json",
		[]byte(`{"mobile":"13800000000","aes_key":"aa4BtZ4tspm2wnXLb1ThQA=="}`), nil)
	if m := g.do("POST", "/ali/decrypt/getPhoneNumber", "application/json", phone.raw, nil).expect(t, 200, 0); m.str("mobile") != "13800000000" {
		t.Fatalf("alipay getPhoneNumber: %s", m.raw)
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
	backendLogged(t, logFile, "wxpay", "demo-v3-1")

	// Virtual payment: the orderInfo is signed with the session key kept
	// from code2Session; paying it in the emulator (which checks both
	// signatures) pushes the delivery event through /wx/push to the demo
	// backend, and the order is paid.
	login := g.post("/wx/auth/code2Session", map[string]any{"code": "xpay-user"}).expect(t, 200, 0)
	openid := login.str("openid")
	a = p.post("/pay/xpay/getOrderInfo", map[string]any{
		"openid": openid, "outTradeNo": "demo-x-1", "productId": "ep-1", "goodsPrice": 100,
	}).expect(t, 200, 0)
	info, _ := a.obj["orderInfo"].(map[string]any)
	if info["signData"] == nil || info["paySig"] == nil || info["signature"] == nil || len(info) != 4 {
		t.Fatalf("xpay getOrderInfo: %s", a.raw)
	}
	payBody, _ := json.Marshal(map[string]any{"openid": openid, "mode": info["mode"], "signData": info["signData"],
		"paySig": info["paySig"], "signature": info["signature"]})
	paid = (&gateway{t: t, base: "http://" + emu}).do("POST", "/_emulator/xpay/pay", "application/json", payBody, nil)
	if paid.status != 200 || !strings.Contains(string(paid.raw), `"acknowledged":true`) {
		t.Fatalf("the virtual payment's delivery push was not acknowledged: %s", paid.raw)
	}
	a = p.post("/pay/xpay/orderQuery", map[string]any{"openid": openid, "outTradeNo": "demo-x-1"}).expect(t, 200, 0)
	if order, _ := a.obj["order"].(map[string]any); fmt.Sprint(order["status"]) != "2" || fmt.Sprint(order["paidFee"]) != "100" {
		t.Fatalf("xpay orderQuery: %s", a.raw)
	}
	eventLogged(t, logFile, "xpay_goods_deliver_notify", "demo-x-1")

	// An asynchronous content check: mediaCheckAsync answers a traceId, the
	// emulator pushes the wxa_media_check result (safe mode) to /wx/push,
	// and the verified result reaches the demo backend.
	a = g.post("/wx/request", map[string]any{"method": "POST", "url": "/wxa/media_check_async", "data": map[string]any{
		"media_url": "https://example.com/risky.jpg", "media_type": 2, "version": 2, "scene": 1, "openid": "oDemoUser",
	}}).expect(t, 200, 0)
	trace := a.str("traceId")
	if trace == "" {
		t.Fatalf("mediaCheckAsync: %s", a.raw)
	}
	pushed := (&gateway{t: t, base: "http://" + emu}).do("GET", "/_emulator/weixin/pushes?trace_id="+trace, "", nil, nil)
	if pushed.status != 200 || fmt.Sprint(pushed.obj["status"]) != "200" || pushed.obj["body"] != "success" {
		t.Fatalf("the wxa_media_check push was not taken: %s", pushed.raw)
	}
	pushLogged(t, logFile, trace)
}

// backendEntry is one "backend received" line of the demo backend.
type backendEntry struct {
	Level, Logger, Msg string
	Headers            map[string]string
	Body               map[string]any
}

// backendLine returns the demo backend's first "backend received" line in
// Caddy's JSON log for which is returns true, and the line as written; the
// test fails, showing the log, when there is none.
func backendLine(t *testing.T, logFile, what string, is func(backendEntry) bool) (backendEntry, string) {
	t.Helper()
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		var entry backendEntry
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "backend received" && is(entry) {
			return entry, line
		}
	}
	t.Fatalf("the demo backend logged no %s; the log:\n%s", what, raw)
	return backendEntry{}, ""
}

// pushLogged fails the test unless the demo backend logged the verified
// wxa_media_check push carrying traceID: camelCase JSON, its result, and
// the X-Unicloud-* headers.
func pushLogged(t *testing.T, logFile, traceID string) {
	t.Helper()
	entry, line := backendLine(t, logFile, "push of "+traceID, func(e backendEntry) bool { return e.Body["traceId"] == traceID })
	result, _ := entry.Body["result"].(map[string]any)
	if entry.Body["event"] != "wxa_media_check" || entry.Body["fromUserName"] != "oDemoUser" || result["suggest"] != "risky" ||
		entry.Headers["X-Unicloud-Provider"] != "weixin" || entry.Headers["X-Unicloud-Event"] != "wxa_media_check" ||
		!strings.HasPrefix(entry.Headers["X-Unicloud-Signature"], "sha256=") {
		t.Errorf("the backend's line for the push of %s: %s", traceID, line)
	}
}

// backendLogged fails the test unless Caddy's JSON log has the demo
// backend's "backend received" line for the verified notification of
// outTradeNo, with its body as JSON and the X-Unicloud-* headers.
func backendLogged(t *testing.T, logFile, provider, outTradeNo string) {
	t.Helper()
	entry, line := backendLine(t, logFile, "notification of "+outTradeNo, func(e backendEntry) bool { return e.Body["outTradeNo"] == outTradeNo })
	if entry.Level != "info" || entry.Logger != "http.handlers.unicloud_emulator" || entry.Body["provider"] != provider ||
		entry.Headers["X-Unicloud-Provider"] != provider || !strings.HasPrefix(entry.Headers["X-Unicloud-Signature"], "sha256=") {
		t.Errorf("the backend's line for %s: %s", outTradeNo, line)
	}
}

// eventLogged fails the test unless the demo backend logged the verified
// push of event for the order outTradeNo.
func eventLogged(t *testing.T, logFile, event, outTradeNo string) {
	t.Helper()
	entry, line := backendLine(t, logFile, event+" push", func(e backendEntry) bool { return e.Body["event"] == event })
	if entry.Body["outTradeNo"] != outTradeNo || entry.Headers["X-Unicloud-Event"] != event {
		t.Errorf("the backend's line for the %s push: %s", event, line)
	}
}
