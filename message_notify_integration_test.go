package unicloud

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// pushBackend is the demo backend behind unicloud_message_notify: it
// records every push it receives and answers a passive reply.
type pushBackend struct {
	got chan recordedPush
}

type recordedPush struct {
	header http.Header
	query  string
	body   map[string]any
	raw    []byte
}

func (b *pushBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	_ = d.Decode(&body)
	b.got <- recordedPush{header: r.Header.Clone(), query: r.URL.RawQuery, body: body, raw: raw}
	if body["msgType"] == "text" {
		_, _ = io.WriteString(w, `{"msgType":"text","content":"got it"}`)
	}
}

const (
	mnAppID    = "wx0123456789abcdef"
	mnSecret   = "mini-program-secret"
	mnAppID2   = "wx0123456789abcde2"
	mnToken    = "push-token"
	mnToken2   = "plain-token"
	mnAESKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	mnUpstream = "upstream-hmac-secret"
)

func TestMessageNotifyThroughCaddy(t *testing.T) {
	backend := &pushBackend{got: make(chan recordedPush, 8)}
	bs := httptest.NewServer(backend)
	t.Cleanup(bs.Close)
	gw, emu := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	loadCaddy(t, globalOptions(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
http://%[1]s {
	route /wx/push {
		unicloud_message_notify weixin {
			token            %[3]s
			encoding_aes_key %[4]s
			app_id           %[5]s
			dedupe           10m
			upstream_secret  %[6]s
		}
		reverse_proxy %[7]s
	}
	handle /wx/ordered {
		unicloud_message_notify weixin {
			token %[8]s
		}
		respond "success" 200
	}
}

http://%[2]s {
	unicloud_emulator {
		weixin_app %[5]s %[9]s
		weixin_app %[10]s %[9]s
		weixin_message_push %[5]s http://%[1]s/wx/push {
			token            %[3]s
			encoding_aes_key %[4]s
			mode             safe
			format           json
		}
		weixin_message_push %[10]s http://%[1]s/wx/ordered {
			token  %[8]s
			format xml
		}
	}
}
`, gw, emu, mnToken, mnAESKey, mnAppID, mnUpstream, strings.TrimPrefix(bs.URL, "http://"), mnToken2, mnSecret, mnAppID2))

	push := func(appid, msg string) map[string]any {
		t.Helper()
		resp, err := testClient.Post("http://"+emu+"/_emulator/weixin/push?appid="+appid, "application/json", strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("emulator push: %d %v", resp.StatusCode, err)
		}
		return out
	}
	waitPush := func() recordedPush {
		t.Helper()
		select {
		case p := <-backend.got:
			return p
		case <-time.After(20 * time.Second):
			t.Fatal("the backend received no push")
		}
		return recordedPush{}
	}

	// A text message in safe mode: verified, decrypted, forwarded; the
	// passive reply goes back encrypted and the emulator decrypts it.
	res := push(mnAppID, `{"MsgType":"text","Content":"hello","MsgId":7234567890123456789}`)
	if res["status"] != float64(200) || !strings.Contains(fmt.Sprint(res["reply"]), "<Content><![CDATA[got it]]></Content>") &&
		!strings.Contains(fmt.Sprint(res["reply"]), `"Content":"got it"`) {
		t.Fatalf("push answer %v", res)
	}
	p := waitPush()
	if !strings.Contains(string(p.raw), `"msgId":7234567890123456789`) || p.body["content"] != "hello" || p.query != "" {
		t.Fatalf("backend got %s ?%s", p.raw, p.query)
	}
	h := p.header
	if h.Get("X-Unicloud-Message-Id") != "7234567890123456789" || h.Get("X-Unicloud-Msg-Type") != "text" || h.Get("X-Unicloud-Provider") != "weixin" ||
		h.Get("X-Unicloud-Signature") != "sha256="+signing.HMACSHA256Hex([]byte(mnUpstream), p.raw) {
		t.Fatalf("backend headers %v", h)
	}
	// WeChat's retry of the same message is answered without the backend.
	res = push(mnAppID, `{"MsgType":"text","Content":"hello","MsgId":7234567890123456789}`)
	if res["status"] != float64(200) || !strings.Contains(fmt.Sprint(res["reply"]), "got it") {
		t.Fatalf("retry answer %v", res)
	}
	select {
	case p := <-backend.got:
		t.Fatalf("the retry reached the backend: %s", p.raw)
	default:
	}

	// mediaCheckAsync: its asynchronous result reaches the backend verified.
	tokResp, err := testClient.Get("http://" + emu + "/cgi-bin/token?grant_type=client_credential&appid=" + mnAppID + "&secret=" + mnSecret)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(tokResp.Body).Decode(&tok)
	tokResp.Body.Close()
	resp, err := testClient.Post("http://"+emu+"/wxa/media_check_async?access_token="+url.QueryEscape(tok.AccessToken), "application/json",
		strings.NewReader(`{"media_url":"https://example.com/risky.png","media_type":2,"version":2,"scene":1,"openid":"o_user"}`))
	if err != nil {
		t.Fatal(err)
	}
	var mc struct {
		TraceID string `json:"trace_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&mc)
	resp.Body.Close()
	if mc.TraceID == "" {
		t.Fatal("no trace_id")
	}
	p = waitPush()
	result, _ := p.body["result"].(map[string]any)
	if p.body["event"] != "wxa_media_check" || p.body["traceId"] != mc.TraceID || result["suggest"] != "risky" || p.body["version"] != json.Number("2") ||
		p.header.Get("X-Unicloud-Event") != "wxa_media_check" || !strings.HasPrefix(p.header.Get("X-Unicloud-Message-Id"), "evt-") {
		t.Fatalf("media check push %s %v", p.raw, p.header)
	}
	// The emulator's hook answers once the gateway has answered the push
	// (counted, recorded for dedupe): nothing of it outlives the test.
	done, err := testClient.Get("http://" + emu + "/_emulator/weixin/pushes?trace_id=" + url.QueryEscape(mc.TraceID))
	if err != nil {
		t.Fatal(err)
	}
	var pushed struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	_ = json.NewDecoder(done.Body).Decode(&pushed)
	done.Body.Close()
	if pushed.Status != 200 || pushed.Body != "success" {
		t.Fatalf("the gateway answered the media check push %d %q", pushed.Status, pushed.Body)
	}

	// A forged push never reaches the backend.
	forged, err := testClient.Post("http://"+gw+"/wx/push?timestamp=1&nonce=n&encrypt_type=aes&msg_signature=00", "application/json", strings.NewReader(`{"Encrypt":"AAAA"}`))
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := io.ReadAll(forged.Body)
	forged.Body.Close()
	if forged.StatusCode != 401 || string(fb) != "fail" {
		t.Fatalf("forged: %d %q", forged.StatusCode, fb)
	}
}

// TestMessageNotifyOrderedBeforeRespond: in `handle { unicloud_message_notify … respond "success" }`
// the verifier runs first, whatever the order in the block.
func TestMessageNotifyOrderedBeforeRespond(t *testing.T) {
	gw := freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(t.TempDir(), "storage"), "")+fmt.Sprintf(`
http://%[1]s {
	handle /wx/* {
		respond "success" 200
		unicloud_message_notify weixin {
			token %[2]s
		}
	}
}
`, gw, mnToken2))
	post := func(query, body string) (int, string) {
		resp, err := testClient.Post("http://"+gw+"/wx/push?"+query, "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	msg := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>`
	ts := fmt.Sprint(time.Now().Unix())
	if code, body := post("timestamp="+ts+"&nonce=n&signature="+strings.Repeat("0", 40), msg); code != 401 || body != "fail" {
		t.Fatalf("forged push: %d %q (respond ran before the verifier?)", code, body)
	}
	if code, body := post("timestamp="+ts+"&nonce=n&signature="+signing.OASignature(mnToken2, ts, "n"), msg); code != 200 || body != "success" {
		t.Fatalf("signed push: %d %q", code, body)
	}
}

// TestMessageNotifyMetrics: caddy_unicloud_message_pushes_total counts URL
// checks, accepted, deduplicated, refused (by check) and failed pushes, in
// Caddy's metrics.
func TestMessageNotifyMetrics(t *testing.T) {
	gw := freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(t.TempDir(), "storage"), "")+fmt.Sprintf(`
http://%[1]s {
	handle /metrics {
		metrics
	}
	handle /wx/push {
		unicloud_message_notify weixin {
			token %[2]s
			dedupe 10m
		}
		respond 200
	}
	handle /wx/broken {
		unicloud_message_notify weixin {
			token %[2]s
		}
		respond "down" 503
	}
}
`, gw, mnToken2))
	send := func(method, path, query, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+gw+path+"?"+query, strings.NewReader(body))
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	ts := fmt.Sprint(time.Now().Unix())
	signed := "timestamp=" + ts + "&nonce=n&signature=" + signing.OASignature(mnToken2, ts, "n")
	msg := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>`

	scrape := func() map[string]float64 { return scrapeMetrics(t, "http://"+gw+"/metrics") }
	before := scrape()
	for _, c := range []struct {
		method, path, query, body string
		status                    int
	}{
		{"GET", "/wx/push", signed + "&echostr=e1", "", 200},
		{"POST", "/wx/push", signed, msg, 200},
		{"POST", "/wx/push", signed, msg, 200}, // the same MsgId: answered from dedupe
		{"POST", "/wx/push", "timestamp=" + ts + "&nonce=n&signature=" + strings.Repeat("0", 40), msg, 401},
		{"POST", "/wx/push", "timestamp=" + ts + "&nonce=n&signature=" + strings.Repeat("0", 40), msg, 401},
		{"PUT", "/wx/push", signed, msg, 405},
		{"POST", "/wx/broken", signed, msg, 500},
	} {
		if got := send(c.method, c.path, c.query, c.body); got != c.status {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, got, c.status)
		}
	}
	after := scrape()
	for name, delta := range map[string]float64{
		`caddy_unicloud_message_pushes_total{provider="weixin",result="url_check"}`:         1,
		`caddy_unicloud_message_pushes_total{provider="weixin",result="accepted"}`:          1,
		`caddy_unicloud_message_pushes_total{provider="weixin",result="deduplicated"}`:      1,
		`caddy_unicloud_message_pushes_total{provider="weixin",result="refused_signature"}`: 2,
		`caddy_unicloud_message_pushes_total{provider="weixin",result="refused_method"}`:    1,
		`caddy_unicloud_message_pushes_total{provider="weixin",result="backend_failed"}`:    1,
	} {
		if got := after[name] - before[name]; got != delta {
			t.Errorf("%s went up by %v, want %v", name, got, delta)
		}
	}
}
