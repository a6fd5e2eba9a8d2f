package weixin

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-unicloud/unicloud/handlers/messagenotify"
	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	testToken  = "T0ken"
	testKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAppID  = "wx0123456789abcdef"
	testSecret = "upstream-secret"
)

// backend is the next handler: it records what it received and answers
// status and body.
type backend struct {
	calls  atomic.Int32
	status int
	body   string
	got    *http.Request
	gotB   []byte
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	b.calls.Add(1)
	b.got = r
	b.gotB, _ = io.ReadAll(r.Body)
	if b.status != 0 {
		w.WriteHeader(b.status)
	}
	_, _ = io.WriteString(w, b.body)
	return nil
}

// newHandler provisions the host with a weixin provider from JSON.
func newHandler(t testing.TB, provider map[string]any, host func(*messagenotify.MessageNotify), st certmagic.Storage) (*messagenotify.MessageNotify, *observer.ObservedLogs) {
	t.Helper()
	provider["name"] = "weixin"
	raw, _ := json.Marshal(provider)
	m := &messagenotify.MessageNotify{ProviderRaw: raw, UpstreamSecret: testSecret}
	if host != nil {
		host(m)
	}
	core, logs := observer.New(zap.DebugLevel)
	m.UseEnv(zap.New(core), st)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return m, logs
}

func safeProvider() map[string]any {
	return map[string]any{"token": testToken, "encoding_aes_key": testKey, "app_id": testAppID}
}

// wxPush is a push as WeChat sends it: mode "plaintext", "compatible" or
// "safe", format "xml" or "json", signed at ts.
func wxPush(t testing.TB, mode, format, msg string, ts int64) *http.Request {
	t.Helper()
	tss := strconv.FormatInt(ts, 10)
	nonce := "n" + strconv.FormatInt(ts%1000, 10)
	q := url.Values{"timestamp": {tss}, "nonce": {nonce}, "signature": {signing.OASignature(testToken, tss, nonce)}, "openid": {"o_user"}}
	body := msg
	if mode != "plaintext" {
		enc, err := signing.EncryptOAMessage(testKey, testAppID, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", signing.OASignature(testToken, tss, nonce, enc))
		switch {
		case format == "json" && mode == "safe":
			body = `{"ToUserName":"gh_1","Encrypt":"` + enc + `"}`
		case format == "json":
			body = strings.TrimSuffix(msg, "}") + `,"Encrypt":"` + enc + `"}`
		case mode == "safe":
			body = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
		default:
			body = strings.TrimSuffix(msg, "</xml>") + "<Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/wx/push?"+q.Encode(), strings.NewReader(body))
	r.Header.Set("Content-Type", "text/xml")
	return r
}

const (
	textJSON = `{"ToUserName":"gh_1","FromUserName":"o_user","CreateTime":1700000000,"MsgType":"text","Content":"hello","MsgId":7234567890123456789}`
	textXML  = `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>7234567890123456789</MsgId></xml>`
	xpayJSON = `{"ToUserName":"gh_1","FromUserName":"o_user","CreateTime":1700000000,"MsgType":"event","Event":"xpay_goods_deliver_notify","OpenId":"o_user","OutTradeNo":"T1","WeChatPayInfo":{"MchOrderNo":"M1","TransactionId":"42"}}`
)

func serve(m *messagenotify.MessageNotify, r *http.Request, next *backend) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	_ = m.ServeHTTP(w, r, next)
	return w
}

func TestURLCheck(t *testing.T) {
	m, _ := newHandler(t, safeProvider(), nil, nil)
	ts := "1714036504" // old: an echo has no freshness check
	q := url.Values{"timestamp": {ts}, "nonce": {"1514711492"}, "echostr": {"4375120948345356249"}, "signature": {signing.OASignature(testToken, ts, "1514711492")}}
	next := &backend{}
	w := serve(m, httptest.NewRequest(http.MethodGet, "/wx/push?"+q.Encode(), nil), next)
	if w.Code != 200 || w.Body.String() != "4375120948345356249" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") || next.calls.Load() != 0 {
		t.Fatalf("%d %q %v calls=%d", w.Code, w.Body, w.Header(), next.calls.Load())
	}
	q.Set("signature", strings.Repeat("0", 40))
	if w := serve(m, httptest.NewRequest(http.MethodGet, "/wx/push?"+q.Encode(), nil), next); w.Code != 401 || w.Body.String() != "fail" {
		t.Fatalf("wrong signature: %d %q", w.Code, w.Body)
	}
	q.Del("echostr")
	if w := serve(m, httptest.NewRequest(http.MethodGet, "/wx/push?"+q.Encode(), nil), next); w.Code != 400 {
		t.Fatalf("no echostr: %d", w.Code)
	}
}

// TestRefusals: every refusal row: status, body "fail", one WARN line with
// the check, the backend never called, no secret in the log.
func TestRefusals(t *testing.T) {
	now := time.Now().Unix()
	plainProvider := map[string]any{"token": testToken}
	sealedBy := func(appID, msg string) string {
		enc, _ := signing.EncryptOAMessage(testKey, appID, []byte(msg))
		return enc
	}
	aesReq := func(enc, body string, sigOK bool) *http.Request {
		tss := strconv.FormatInt(now, 10)
		sig := signing.OASignature(testToken, tss, "n", enc)
		if !sigOK {
			sig = strings.Repeat("a", 40)
		}
		q := url.Values{"timestamp": {tss}, "nonce": {"n"}, "encrypt_type": {"aes"}, "msg_signature": {sig}}
		return httptest.NewRequest(http.MethodPost, "/wx/push?"+q.Encode(), strings.NewReader(body))
	}
	wrap := func(enc string) string { return `{"ToUserName":"gh_1","Encrypt":"` + enc + `"}` }
	big := strings.Repeat("x", 2048)
	cases := []struct {
		name     string
		provider map[string]any
		req      func() *http.Request
		status   int
		check    string
	}{
		{"method", safeProvider(), func() *http.Request { return httptest.NewRequest(http.MethodPut, "/wx/push", nil) }, 405, "method"},
		{"body too large", safeProvider(), func() *http.Request {
			r := aesReq("x", big, false) // the signature is wrong too: 413 is decided first
			return r
		}, 413, "body_too_large"},
		{"body too large, no length", safeProvider(), func() *http.Request {
			r := aesReq("x", big, false)
			r.ContentLength = -1
			return r
		}, 413, "body_too_large"},
		{"no timestamp", safeProvider(), func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/wx/push?nonce=n&encrypt_type=aes&msg_signature=x", strings.NewReader(wrap("x")))
		}, 400, "params"},
		{"timestamp not integer", safeProvider(), func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/wx/push?timestamp=now&nonce=n&encrypt_type=aes&msg_signature=x", strings.NewReader(wrap("x")))
		}, 400, "params"},
		{"no msg_signature", safeProvider(), func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/wx/push?timestamp=1&nonce=n&encrypt_type=aes", strings.NewReader(wrap("x")))
		}, 400, "params"},
		{"neither XML nor JSON", safeProvider(), func() *http.Request { return aesReq("x", "hello", true) }, 400, "format"},
		{"DOCTYPE", safeProvider(), func() *http.Request {
			return aesReq("x", `<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>`, true)
		}, 400, "dtd"},
		{"no Encrypt", safeProvider(), func() *http.Request { return aesReq("", `{"ToUserName":"gh_1"}`, true) }, 400, "encrypt"},
		{"decrypted unreadable", safeProvider(), func() *http.Request {
			e := sealedBy(testAppID, "garbage")
			return aesReq(e, wrap(e), true)
		}, 400, "message"},
		{"decrypted DOCTYPE", safeProvider(), func() *http.Request {
			e := sealedBy(testAppID, `<!DOCTYPE x><xml><MsgType>text</MsgType></xml>`)
			return aesReq(e, wrap(e), true)
		}, 400, "dtd"},
		{"no MsgType", safeProvider(), func() *http.Request {
			e := sealedBy(testAppID, `{"ToUserName":"gh_1"}`)
			return aesReq(e, wrap(e), true)
		}, 400, "msg_type"},
		{"wrong msg_signature", safeProvider(), func() *http.Request {
			e := sealedBy(testAppID, textJSON)
			return aesReq(e, wrap(e), false)
		}, 401, "msg_signature"},
		{"wrong signature", plainProvider, func() *http.Request {
			r := wxPush(t, "plaintext", "json", textJSON, now)
			q := r.URL.Query()
			q.Set("signature", strings.Repeat("b", 40))
			r.URL.RawQuery = q.Encode()
			return r
		}, 401, "signature"},
		{"plaintext on aes route", safeProvider(), func() *http.Request { return wxPush(t, "plaintext", "json", textJSON, now) }, 401, "plaintext"},
		{"aes on plaintext route", plainProvider, func() *http.Request { return wxPush(t, "safe", "json", textJSON, now) }, 401, "encrypt_type"},
		{"does not decrypt", safeProvider(), func() *http.Request { return aesReq("QUJDREVGR0g=", wrap("QUJDREVGR0g="), true) }, 401, "decrypt"},
		{"bad base64", safeProvider(), func() *http.Request { return aesReq("%%%%", wrap("%%%%"), true) }, 401, "decrypt"},
		{"other appid", safeProvider(), func() *http.Request {
			e := sealedBy("wxffffffffffffffff", textJSON)
			return aesReq(e, wrap(e), true)
		}, 401, "appid"},
		{"stale", safeProvider(), func() *http.Request { return wxPush(t, "safe", "json", textJSON, now-3600) }, 401, "timestamp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, logs := newHandler(t, c.provider, func(m *messagenotify.MessageNotify) { m.MaxBody = 1024 }, nil)
			next := &backend{}
			r := c.req()
			r.Header.Set("X-Unicloud-Provider", "forged")
			w := serve(m, r, next)
			if w.Code != c.status || w.Body.String() != "fail" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
				t.Fatalf("%d %q %v, want %d fail", w.Code, w.Body, w.Header(), c.status)
			}
			if next.calls.Load() != 0 {
				t.Fatal("the backend was called")
			}
			warn := logs.FilterLevelExact(zap.WarnLevel).All()
			if len(warn) != 1 || warn[0].ContextMap()["check"] != c.check {
				t.Fatalf("log %+v, want one WARN with check=%s", logs.All(), c.check)
			}
			for _, e := range logs.All() {
				line, _ := json.Marshal(e.ContextMap())
				for _, secret := range []string{testToken, testKey, testSecret, "hello"} {
					if strings.Contains(e.Message+string(line), secret) {
						t.Fatalf("log line mentions %q: %s %s", secret, e.Message, line)
					}
				}
			}
			if c.check == "timestamp" {
				f := warn[0].ContextMap()
				if f["max_skew"] != 5*time.Minute || f["skew"].(time.Duration) < 59*time.Minute || !strings.Contains(f["reason"].(string), "max_skew 5m0s") {
					t.Fatalf("stale log fields %v", f)
				}
			}
		})
	}
}

func TestForwarded(t *testing.T) {
	for _, mode := range []string{"plaintext", "compatible", "safe"} {
		for _, format := range []string{"xml", "json"} {
			provider := safeProvider()
			if mode == "plaintext" {
				provider = map[string]any{"token": testToken}
			}
			m, _ := newHandler(t, provider, nil, nil)
			msg := textJSON
			if format == "xml" {
				msg = textXML
			}
			next := &backend{}
			r := wxPush(t, mode, format, msg, time.Now().Unix())
			r.Header.Set("X-Unicloud-Message-Id", "forged")
			r.Header.Set("x-unicloud-other", "forged")
			w := serve(m, r, next)
			if w.Code != 200 || w.Body.String() != "success" || next.calls.Load() != 1 {
				t.Fatalf("%s %s: %d %q", mode, format, w.Code, w.Body)
			}
			want := `{"toUserName":"gh_1","fromUserName":"o_user","createTime":1700000000,"msgType":"text","content":"hello","msgId":7234567890123456789}`
			g := next.got
			if string(next.gotB) != want || g.Method != "POST" || g.URL.RawQuery != "" || g.URL.Path != "/wx/push" || g.ContentLength != int64(len(want)) {
				t.Fatalf("%s %s: backend got %s %s?%s %s", mode, format, g.Method, g.URL.Path, g.URL.RawQuery, next.gotB)
			}
			h := g.Header
			if h.Get("Content-Type") != "application/json" || h.Get("X-Unicloud-Provider") != "weixin" || h.Get("X-Unicloud-Notify-Type") != "message" ||
				h.Get("X-Unicloud-Msg-Type") != "text" || h.Get("X-Unicloud-Message-Id") != "7234567890123456789" || h.Get("X-Unicloud-Other") != "" ||
				h.Get("X-Unicloud-Event") != "" || h.Get("X-Unicloud-Signature") != "sha256="+signing.HMACSHA256Hex([]byte(testSecret), next.gotB) {
				t.Fatalf("%s %s: headers %v", mode, format, h)
			}
		}
	}
}

// decryptReply opens an encrypted reply envelope and checks its signature.
func decryptReply(t *testing.T, format string, body []byte) string {
	t.Helper()
	var enc, sig, ts, nonce string
	if format == "json" {
		var env struct {
			Encrypt, MsgSignature, Nonce string
			TimeStamp                    json.Number
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		enc, sig, ts, nonce = env.Encrypt, env.MsgSignature, env.TimeStamp.String(), env.Nonce
	} else {
		var env struct {
			Encrypt, MsgSignature, TimeStamp, Nonce string
		}
		if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt == "" {
			t.Fatalf("%s: %v", body, err)
		}
		enc, sig, ts, nonce = env.Encrypt, env.MsgSignature, env.TimeStamp, env.Nonce
	}
	if !signing.EqualHex(sig, signing.OASignature(testToken, ts, nonce, enc)) {
		t.Fatalf("reply signature does not verify: %s", body)
	}
	plain, appID, err := signing.DecryptOAMessage(testKey, enc)
	if err != nil || appID != testAppID {
		t.Fatalf("reply does not decrypt: %v %q", err, appID)
	}
	return string(plain)
}

func TestAnswers(t *testing.T) {
	now := time.Now().Unix()
	cases := []struct {
		name, mode, format, msg string
		status                  int
		backend                 string
		wantStatus              int
		wantCT                  string
		want                    string // exact body, or for encrypted replies a substring of the decrypted reply
		encrypted               bool
	}{
		{"empty", "safe", "xml", textXML, 200, "", 200, "text/plain", "success", false},
		{"success 204", "safe", "json", textJSON, 204, "", 200, "text/plain", "success", false},
		{"xpay ack in safe mode", "safe", "json", xpayJSON, 200, "success", 200, "application/json", `{"ErrCode":0,"ErrMsg":"success"}`, false},
		{"passive xml plaintext", "plaintext", "xml", textXML, 200, `{"msgType":"text","content":"hi"}`, 200, "text/xml", "<Content><![CDATA[hi]]></Content>", false},
		{"passive json plaintext", "plaintext", "json", textJSON, 200, `{"msgType":"image","image":{"mediaId":"M1"}}`, 200, "application/json", `"MsgType":"image","Image":{"MediaId":"M1"}}`, false},
		{"passive xml safe", "safe", "xml", textXML, 200, `{"msgType":"text","content":"hi"}`, 200, "text/xml", "<ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName>", true},
		{"passive json compatible", "compatible", "json", textJSON, 200, `{"msgType":"transfer_customer_service"}`, 200, "application/json", `{"ToUserName":"o_user","FromUserName":"gh_1","CreateTime":`, true},
		{"verbatim json plaintext", "plaintext", "json", xpayJSON, 200, `{"result_code":0,"result_info":"ok","evidence":"e"}`, 200, "application/json", `{"result_code":0,"result_info":"ok","evidence":"e"}`, false},
		{"verbatim json safe", "safe", "json", xpayJSON, 200, `{"result_code":0}`, 200, "application/json", `{"result_code":0}`, true},
		{"backend 500", "safe", "json", textJSON, 500, "", 500, "text/plain", "fail", false},
		{"backend 500 xpay", "safe", "json", xpayJSON, 503, "", 500, "application/json", `{"ErrCode":1,"ErrMsg":"backend failed"}`, false},
		{"backend html", "safe", "xml", textXML, 200, "<html>ok</html>", 500, "text/plain", "fail", false},
		{"backend text", "safe", "json", textJSON, 200, "ok", 500, "text/plain", "fail", false},
		{"object for xml push", "safe", "xml", textXML, 200, `{"a":1}`, 500, "text/plain", "fail", false},
		{"backend answer over 64KB", "safe", "json", textJSON, 200, `{"msgType":"text","content":"` + strings.Repeat("x", 70<<10) + `"}`, 500, "text/plain", "fail", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			provider := safeProvider()
			if c.mode == "plaintext" {
				provider = map[string]any{"token": testToken}
			}
			m, logs := newHandler(t, provider, nil, nil)
			next := &backend{status: c.status, body: c.backend}
			w := serve(m, wxPush(t, c.mode, c.format, c.msg, now), next)
			if w.Code != c.wantStatus || !strings.HasPrefix(w.Header().Get("Content-Type"), c.wantCT) || next.calls.Load() != 1 {
				t.Fatalf("%d %s %q", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			body := w.Body.String()
			if c.encrypted {
				plain := decryptReply(t, c.format, w.Body.Bytes())
				if !strings.Contains(plain, c.want) {
					t.Fatalf("decrypted reply %s, want %s", plain, c.want)
				}
				return
			}
			if strings.HasPrefix(c.name, "passive") {
				if !strings.Contains(body, c.want) {
					t.Fatalf("reply %s, want %s", body, c.want)
				}
				return
			}
			if body != c.want {
				t.Fatalf("body %q, want %q", body, c.want)
			}
			if c.wantStatus == 500 && len(logs.FilterLevelExact(zap.ErrorLevel).All()) != 1 {
				t.Fatalf("no error log: %v", logs.All())
			}
		})
	}
}

func TestEventHeaders(t *testing.T) {
	m, _ := newHandler(t, safeProvider(), nil, nil)
	next := &backend{}
	msg := `{"ToUserName":"gh_1","FromUserName":"o","CreateTime":1626959646,"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"t1","version":2,"detail":[{"strategy":"content_model","errcode":0,"suggest":"pass","label":100,"prob":90}],"errcode":0,"errmsg":"ok","result":{"suggest":"pass","label":100}}`
	w := serve(m, wxPush(t, "safe", "json", msg, time.Now().Unix()), next)
	if w.Code != 200 {
		t.Fatal(w.Code)
	}
	want := `{"toUserName":"gh_1","fromUserName":"o","createTime":1626959646,"msgType":"event","event":"wxa_media_check","appid":"wx1","traceId":"t1","version":2,"detail":[{"strategy":"content_model","errCode":0,"suggest":"pass","label":100,"prob":90}],"errCode":0,"errMsg":"ok","result":{"suggest":"pass","label":100}}`
	h := next.got.Header
	if string(next.gotB) != want || h.Get("X-Unicloud-Event") != "wxa_media_check" || h.Get("X-Unicloud-Msg-Type") != "event" || !strings.HasPrefix(h.Get("X-Unicloud-Message-Id"), "evt-") {
		t.Fatalf("%s %v", next.gotB, h)
	}
}

// TestDedupeAcrossInstances: two handlers sharing a storage; a retry of a
// push the backend took is answered the same way, not forwarded; a push
// the backend failed is forwarded again.
func TestDedupeAcrossInstances(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	dedupe := func(m *messagenotify.MessageNotify) { m.Dedupe = caddy.Duration(10 * time.Minute) }
	a, _ := newHandler(t, safeProvider(), dedupe, st)
	b, logsB := newHandler(t, safeProvider(), dedupe, st)
	msg := `{"ToUserName":"gh_1","FromUserName":"o_user","CreateTime":1700000000,"MsgType":"event","Event":"wxa_media_check","trace_id":"t1"}`
	now := time.Now().Unix()

	nextA := &backend{body: `{"msgType":"text","content":"first"}`}
	w := serve(a, wxPush(t, "safe", "json", msg, now), nextA)
	if w.Code != 200 || !strings.Contains(decryptReply(t, "json", w.Body.Bytes()), `"Content":"first"`) {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	// The retry, encrypted afresh with another timestamp and nonce, on the other instance.
	nextB := &backend{body: `{"msgType":"text","content":"second"}`}
	w = serve(b, wxPush(t, "safe", "json", msg, now+7), nextB)
	if w.Code != 200 || nextB.calls.Load() != 0 || !strings.Contains(decryptReply(t, "json", w.Body.Bytes()), `"Content":"first"`) {
		t.Fatalf("retry: %d calls=%d", w.Code, nextB.calls.Load())
	}
	if len(logsB.FilterMessageSnippet("dedupe").All()) != 1 {
		t.Fatalf("no dedupe log: %v", logsB.All())
	}
	// A forged retry is still verified first.
	r := wxPush(t, "safe", "json", msg, now+8)
	q := r.URL.Query()
	q.Set("msg_signature", strings.Repeat("c", 40))
	r.URL.RawQuery = q.Encode()
	if w := serve(b, r, nextB); w.Code != 401 {
		t.Fatalf("forged retry: %d", w.Code)
	}
	// Another message whose backend fails is forwarded again on retry.
	other := strings.Replace(msg, "t1", "t2", 1)
	failing := &backend{status: 500}
	if w := serve(a, wxPush(t, "safe", "json", other, now), failing); w.Code != 500 {
		t.Fatalf("failing: %d", w.Code)
	}
	if w := serve(b, wxPush(t, "safe", "json", other, now+15), failing); w.Code != 500 || failing.calls.Load() != 2 {
		t.Fatalf("retry of a failed push: %d calls=%d", w.Code, failing.calls.Load())
	}
	// The xpay acknowledgement is replayed too.
	xa := &backend{}
	if w := serve(a, wxPush(t, "safe", "json", xpayJSON, now), xa); w.Body.String() != `{"ErrCode":0,"ErrMsg":"success"}` {
		t.Fatalf("xpay: %s", w.Body)
	}
	xb := &backend{status: 500}
	if w := serve(b, wxPush(t, "safe", "json", xpayJSON, now+15), xb); w.Body.String() != `{"ErrCode":0,"ErrMsg":"success"}` || xb.calls.Load() != 0 {
		t.Fatalf("xpay retry: %s calls=%d", w.Body, xb.calls.Load())
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]Weixin{
		"token is required":             {EncodingAESKey: testKey, AppID: testAppID},
		"43":                            {Token: "t", EncodingAESKey: testKey[:42], AppID: testAppID},
		"not the console's base64":      {Token: "t", EncodingAESKey: strings.Repeat("%", 43), AppID: testAppID},
		"encoding_aes_key needs app_id": {Token: "t", EncodingAESKey: testKey},
	}
	for want, w := range cases {
		_ = w.Provision(caddy.Context{})
		if err := w.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	ok := Weixin{Token: "t", EncodingAESKey: testKey, AppID: testAppID}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPlaceholders(t *testing.T) {
	t.Setenv("WXPUSH_TEST_TOKEN", testToken)
	w := Weixin{Token: "{env.WXPUSH_TEST_TOKEN}"}
	if err := w.Provision(caddy.Context{}); err != nil || w.Token != testToken || w.MaxSkew != caddy.Duration(DefaultMaxSkew) {
		t.Fatalf("%v %q %v", err, w.Token, w.MaxSkew)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`unicloud_message_notify weixin {
		token            T
		encoding_aes_key ` + testKey + `
		app_id           ` + testAppID + `
		max_body         2MB
		max_skew         0
		dedupe           10m
		upstream_secret  S
	}`)
	var m messagenotify.MessageNotify
	if err := m.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m)
	want := `{"provider":{"app_id":"` + testAppID + `","encoding_aes_key":"` + testKey + `","max_skew":-1,"name":"weixin","token":"T"},"max_body":2000000,"dedupe":600000000000,"upstream_secret":"S"}`
	if string(got) != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	for _, bad := range []string{
		`unicloud_message_notify weixin { nope 1 }`,
		`unicloud_message_notify alipay { token T }`,
		`unicloud_message_notify`,
		"unicloud_message_notify weixin {\n token\n}",
		"unicloud_message_notify weixin {\n max_body\n}",
		"unicloud_message_notify weixin {\n max_body 1KB 2KB\n}",
		"unicloud_message_notify weixin extra {\n token T\n}",
		`unicloud_message_notify weixin { max_skew soon }`,
		`unicloud_message_notify weixin { dedupe 0 }`,
	} {
		var m messagenotify.MessageNotify
		if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// An upstream_secret whose placeholder resolves empty stops the config: it
// would otherwise mean unsigned pushes at a backend that expects signed ones.
func TestUpstreamSecretPlaceholderEmpty(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"name": "weixin", "token": testToken})
	m := &messagenotify.MessageNotify{ProviderRaw: raw, UpstreamSecret: "{env.WXPUSH_TEST_UNSET_SECRET}"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := m.Provision(ctx)
	if err == nil || !strings.Contains(err.Error(), "upstream_secret") || !strings.Contains(err.Error(), "{env.WXPUSH_TEST_UNSET_SECRET} resolved to an empty value") {
		t.Fatalf("Provision: %v", err)
	}
}
