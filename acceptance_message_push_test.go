package unicloud

// Acceptance checks of §5a, unicloud_message_notify weixin, written from
// the contract alone: a real Caddy from a Caddyfile, pushes signed and
// encrypted here (SHA1, AES-256-CBC with the EncodingAESKey), a recording
// backend behind reverse_proxy, and the offline unicloud_emulator for its
// push hooks and the mediaCheckAsync push.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	pushVecToken = "AAAAA"
	pushVecKey   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	pushVecApp   = "wxba5fad812f8e6fb9"
	pushTok      = "qa-push-token-1"
	pushK        = "QAkeyQAkeyQAkeyQAkeyQAkeyQAkeyQAkeyQAkey010"
	pushApp      = "wx0a0a0a0a0a0a0a01"
	pushApp2     = "wx0a0a0a0a0a0a0a02"
	pushApp3     = "wx0a0a0a0a0a0a0a03"
	pushSecret   = "qa-mini-secret"
	pushUp       = "qa-upstream-secret-1"
)

type pushEnv struct {
	gw, emu, log, storage string
	b                     *pushBackendRec
}

func (e *pushEnv) u(path, query string) string { return "http://" + e.gw + path + "?" + query }

// pushRoute is a message-push route in front of the recording backend.
func pushRoute(path, backend, body string) string {
	return fmt.Sprintf("\troute %s {\n\t\tunicloud_message_notify weixin {\n%s\t\t}\n\t\treverse_proxy %s\n\t}\n", path, body, backend)
}

func pushStart(t *testing.T) *pushEnv {
	t.Helper()
	e := &pushEnv{gw: freeAddr(t), emu: freeAddr(t), b: newPushBackend(t)}
	dir := t.TempDir()
	e.log, e.storage = filepath.Join(dir, "caddy.log"), filepath.Join(dir, "storage")
	aes := func(app, extra string) string {
		return fmt.Sprintf("\t\t\ttoken %s\n\t\t\tencoding_aes_key %s\n\t\t\tapp_id %s\n%s", pushTok, pushK, app, extra)
	}
	site := pushRoute("/p/plain", e.b.url, "\t\t\ttoken "+pushTok+"\n\t\t\tupstream_secret "+pushUp+"\n") +
		pushRoute("/p/vec", e.b.url, "\t\t\ttoken AAAAA\n\t\t\tmax_skew 0\n") +
		pushRoute("/p/vecsafe", e.b.url, "\t\t\ttoken AAAAA\n\t\t\tencoding_aes_key "+pushVecKey+"\n\t\t\tapp_id "+pushVecApp+"\n\t\t\tmax_skew 0\n") +
		pushRoute("/p/vecsafe5", e.b.url, "\t\t\ttoken AAAAA\n\t\t\tencoding_aes_key "+pushVecKey+"\n\t\t\tapp_id "+pushVecApp+"\n") +
		pushRoute("/p/aes", e.b.url, aes(pushApp, "\t\t\tdedupe 10m\n\t\t\tupstream_secret "+pushUp+"\n")) +
		pushRoute("/p/aes2", e.b.url, aes(pushApp2, "\t\t\tdedupe 10m\n")) +
		pushRoute("/p/small", e.b.url, "\t\t\ttoken "+pushTok+"\n\t\t\tmax_body 1KB\n") +
		pushRoute("/p/dead", freeAddr(t), "\t\t\ttoken "+pushTok+"\n")
	loadCaddy(t, globalOptions(e.storage, e.log)+fmt.Sprintf(`
http://%[1]s {
%[3]s	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id    %[4]s
			secret    %[5]s
			endpoint  http://%[2]s
			allow_raw /wxa/
		}
	}
}

http://%[2]s {
	unicloud_emulator {
		weixin_app %[4]s %[5]s
		weixin_app %[6]s %[5]s
		weixin_app %[7]s %[5]s
		weixin_message_push %[4]s http://%[1]s/p/aes {
			token            %[8]s
			encoding_aes_key %[9]s
			mode             safe
			format           json
		}
		weixin_message_push %[6]s http://%[1]s/p/aes2 {
			token            %[8]s
			encoding_aes_key %[9]s
			mode             compatible
			format           xml
		}
		weixin_message_push %[7]s http://%[1]s/p/plain {
			token  %[8]s
			mode   plaintext
			format xml
		}
	}
}
`, e.gw, e.emu, site, pushApp, pushSecret, pushApp2, pushApp3, pushTok, pushK))
	return e
}

type pushVectors struct {
	URLCheck struct{ Token, Timestamp, Nonce, Echostr, Signature string } `json:"url_check"`
	Plain    struct{ Token, Timestamp, Nonce, Signature, Body string }    `json:"plaintext_json"`
	Safe     struct {
		Token, EncodingAESKey, Appid, Timestamp, Nonce, Openid, Signature, Body, Message string
		MsgSignature                                                                     string `json:"msg_signature"`
	} `json:"safe_json"`
	Reply struct {
		EncodingAESKey, Appid, Message, Encrypt string
	} `json:"safe_json_reply"`
}

func pushLoadVectors(t *testing.T) pushVectors {
	var v pushVectors
	raw, err := os.ReadFile("testdata/weixin_push/vectors.json")
	if err != nil || json.Unmarshal(raw, &v) != nil {
		t.Fatalf("vectors: %v", err)
	}
	return v
}

// pushSafeXML is a safe-mode XML push of msg to /p/aes (app pushApp).
func pushSafe(t *testing.T, e *pushEnv, path, app string, msg string, asJSON bool) (pushResp, string) {
	t.Helper()
	enc := pushEncrypt(t, pushK, app, []byte(msg))
	ts, nonce := pushNow(), fmt.Sprint(time.Now().UnixNano()%1e9)
	body := "<xml><ToUserName><![CDATA[gh_qa]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	if asJSON {
		body = qaJSON(map[string]string{"ToUserName": "gh_qa", "Encrypt": enc})
	}
	return pushDo(t, "POST", e.u(path, pushAESQuery(pushTok, ts, nonce, enc)), body), nonce
}

// pushPlain is a plaintext push of msg to a route with token pushTok.
func pushPlain(t *testing.T, e *pushEnv, path, msg string, header ...string) pushResp {
	t.Helper()
	return pushDo(t, "POST", e.u(path, pushPlainQuery(pushTok, pushNow(), "n1")), msg, header...)
}

func TestAcceptancePushURLVerification(t *testing.T) {
	e, v := pushStart(t), pushLoadVectors(t).URLCheck
	q := url.Values{"signature": {v.Signature}, "timestamp": {v.Timestamp}, "nonce": {v.Nonce}, "echostr": {v.Echostr}}
	// The published example (a 2024 timestamp): max_skew does not apply to the echo, key or no key.
	for _, path := range []string{"/p/vec", "/p/vecsafe5"} {
		r := pushDo(t, "GET", e.u(path, q.Encode()), "")
		if r.Status != 200 || !strings.HasPrefix(r.CType, "text/plain") || r.Body != v.Echostr {
			t.Errorf("GET %s with the published vector: %d %q %q, want 200 text/plain %q", path, r.Status, r.CType, r.Body, v.Echostr)
		}
	}
	if pushSig(v.Token, v.Timestamp, v.Nonce) != v.Signature {
		t.Fatal("the helper's signature disagrees with the vector")
	}
	// An echostr is given back exactly, whatever it holds.
	ts := pushNow()
	odd := "a b+c/d=é&x"
	r := pushDo(t, "GET", e.u("/p/plain", url.Values{"signature": {pushSig(pushTok, ts, "nn")}, "timestamp": {ts}, "nonce": {"nn"}, "echostr": {odd}}.Encode()), "")
	if r.Status != 200 || r.Body != odd {
		t.Errorf("echostr %q: %d %q", odd, r.Status, r.Body)
	}
	for _, drop := range []string{"signature", "timestamp", "nonce", "echostr"} {
		qq := url.Values{}
		for k, vv := range q {
			if k != drop {
				qq[k] = vv
			}
		}
		if r := pushDo(t, "GET", e.u("/p/vec", qq.Encode()), ""); r.Status != 400 || r.Body == v.Echostr {
			t.Errorf("GET without %s: %d %q, want 400", drop, r.Status, r.Body)
		}
	}
	bad := url.Values{"signature": {pushSig("other", v.Timestamp, v.Nonce)}, "timestamp": {v.Timestamp}, "nonce": {v.Nonce}, "echostr": {v.Echostr}}
	if r := pushDo(t, "GET", e.u("/p/vec", bad.Encode()), ""); r.Status != 401 || strings.Contains(r.Body, v.Echostr) {
		t.Errorf("GET with a wrong signature: %d %q, want 401 without the echo", r.Status, r.Body)
	}
	if e.b.n() != 0 {
		t.Errorf("a GET reached the backend: %s", e.b.last(t).Query)
	}
}

func TestAcceptancePushPublishedVectors(t *testing.T) {
	e, v := pushStart(t), pushLoadVectors(t)
	// Plaintext JSON: what the backend gets, and what WeChat gets.
	p := v.Plain
	q := url.Values{"signature": {p.Signature}, "timestamp": {p.Timestamp}, "nonce": {p.Nonce}, "openid": {"o9AgO5Kd5ggOC-bXrbNODIiE3bGY"}}.Encode()
	r := pushDo(t, "POST", e.u("/p/vec", q), p.Body, "Content-Type", "text/html")
	if r.Status != 200 || r.Body != "success" || !strings.HasPrefix(r.CType, "text/plain") {
		t.Errorf("plaintext vector: %d %q %q, want 200 text/plain success", r.Status, r.CType, r.Body)
	}
	g := e.b.last(t)
	want := `{"createTime":1714037059,"debugStr":"hello world","event":"debug_demo","fromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","msgType":"event","toUserName":"gh_97417a04a28d"}`
	if got := qaJSON(g.Body); got != want || !strings.Contains(string(g.Raw), `"createTime":1714037059`) {
		t.Errorf("backend body %s, want %s", g.Raw, want)
	}
	if g.Method != "POST" || g.Path != "/p/vec" || g.Query != "" || g.Header.Get("Content-Type") != "application/json" {
		t.Errorf("backend request %s %s?%s %q", g.Method, g.Path, g.Query, g.Header.Get("Content-Type"))
	}
	for k, want := range map[string]string{"X-Unicloud-Provider": "weixin", "X-Unicloud-Notify-Type": "message",
		"X-Unicloud-Msg-Type": "event", "X-Unicloud-Event": "debug_demo"} {
		if g.Header.Get(k) != want {
			t.Errorf("backend header %s = %q, want %q", k, g.Header.Get(k), want)
		}
	}
	if id := g.Header.Get("X-Unicloud-Message-Id"); !regexp.MustCompile(`^evt-[0-9a-f]+$`).MatchString(id) {
		t.Errorf("X-Unicloud-Message-Id %q, want evt-<lowercase hex>", id)
	}
	if g.Header.Get("X-Unicloud-Signature") != "" {
		t.Error("X-Unicloud-Signature without upstream_secret")
	}
	// The same correctly signed plaintext on a route with a key: refused.
	n := e.b.n()
	pushRefused(t, "signed plaintext on an aes route", pushDo(t, "POST", e.u("/p/vecsafe", q), p.Body), 401, e.b, n)
	// The same with another token: refused.
	pushRefused(t, "plaintext vector, other token", pushDo(t, "POST", e.u("/p/plain", q), p.Body), 401, e.b, n)

	// Safe JSON, decrypted with the published key and appid.
	s := v.Safe
	if msg, app, err := pushDecrypt(t, s.EncodingAESKey, pushJSONObj(t, s.Body)["Encrypt"].(string)); err != nil || app != s.Appid || string(msg) != s.Message {
		t.Fatalf("the helper cannot open the vector: %v %q %q", err, app, msg)
	}
	if msg, app, err := pushDecrypt(t, v.Reply.EncodingAESKey, v.Reply.Encrypt); err != nil || app != v.Reply.Appid || string(msg) != v.Reply.Message {
		t.Fatalf("the helper cannot open the reply vector: %v %q %q", err, app, msg)
	}
	sq := url.Values{"signature": {s.Signature}, "timestamp": {s.Timestamp}, "nonce": {s.Nonce}, "openid": {s.Openid},
		"encrypt_type": {"aes"}, "msg_signature": {s.MsgSignature}}.Encode()
	r = pushDo(t, "POST", e.u("/p/vecsafe", sq), s.Body)
	if r.Status != 200 || r.Body != "success" {
		t.Errorf("safe vector: %d %q", r.Status, r.Body)
	}
	g = e.b.last(t)
	want = `{"createTime":1714112445,"debugStr":"hello world","event":"debug_demo","fromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","msgType":"event","toUserName":"gh_97417a04a28d"}`
	if qaJSON(g.Body) != want || g.Path != "/p/vecsafe" || g.Query != "" {
		t.Errorf("safe vector reached the backend as %s ?%s", g.Raw, g.Query)
	}
	// A replay of the 2024 push where max_skew is the default 5m: stale.
	n = e.b.n()
	pushRefused(t, "replayed safe vector (stale)", pushDo(t, "POST", e.u("/p/vecsafe5", sq), s.Body), 401, e.b, n)
	// encrypt_type=aes on a route without a key.
	pushRefused(t, "aes push on a plaintext route", pushDo(t, "POST", e.u("/p/vec", sq), s.Body), 401, e.b, n)
}

func TestAcceptancePushFreshness(t *testing.T) {
	e := pushStart(t)
	msg := func(id int) string { return fmt.Sprintf(`{"MsgType":"text","Content":"x","MsgId":%d}`, 900+id) }
	for i, c := range []struct {
		skew   int64
		status int
	}{{-200, 200}, {200, 200}, {-301, 401}, {301, 401}, {-3600, 401}} {
		ts := fmt.Sprint(time.Now().Unix() + c.skew)
		enc := pushEncrypt(t, pushK, pushApp, []byte(msg(i)))
		n := e.b.n()
		r := pushDo(t, "POST", e.u("/p/aes", pushAESQuery(pushTok, ts, "fr", enc)), qaJSON(map[string]string{"Encrypt": enc}))
		if c.status == 200 && (r.Status != 200 || e.b.n() != n+1) {
			t.Errorf("aes push %+ds: %d %q, want 200 forwarded", c.skew, r.Status, r.Body)
		} else if c.status != 200 {
			pushRefused(t, fmt.Sprintf("aes push %+ds", c.skew), r, c.status, e.b, n)
		}
		n = e.b.n()
		r = pushDo(t, "POST", e.u("/p/plain", pushPlainQuery(pushTok, ts, "fr")), msg(i+10))
		if c.status != 200 {
			pushRefused(t, fmt.Sprintf("plaintext push %+ds", c.skew), r, c.status, e.b, n)
		} else if r.Status != 200 {
			t.Errorf("plaintext push %+ds: %d", c.skew, r.Status)
		}
	}
}

func TestAcceptancePushRefusals(t *testing.T) {
	e := pushStart(t)
	ts := pushNow()
	const marker = "QA-BODY-MARKER"
	good := `{"MsgType":"text","Content":"` + marker + `","MsgId":1}`
	aesQ := func(enc string) string { return pushAESQuery(pushTok, ts, "nz", enc) }
	aesBody := func(enc string) string { return qaJSON(map[string]string{"ToUserName": "gh", "Encrypt": enc}) }
	key := pushKey(t, pushK)
	badPad := pushCBC(key, append(pushPlainBlock([]byte(good), pushApp), make([]byte, 32-((20+len(good)+len(pushApp))%32))...))
	longLen := []byte(good)
	block := pushPlainBlock(longLen, pushApp)
	block[19] += 200 // the length field beyond the message
	badLen := pushCBC(key, pushPad(block))
	wrongApp := pushEncrypt(t, pushK, "wx_not_this_app", []byte(good))
	withDoctype := pushEncrypt(t, pushK, pushApp, []byte(`<!DOCTYPE x [<!ENTITY e "y">]><xml><MsgType>text</MsgType><Content>&e;`+marker+`</Content></xml>`))
	garbage := pushEncrypt(t, pushK, pushApp, []byte("not a message "+marker))
	noType := pushEncrypt(t, pushK, pushApp, []byte(`{"Content":"`+marker+`"}`))
	noTypeXML := `<xml><ToUserName>gh</ToUserName><Content>` + marker + `</Content></xml>`
	for _, c := range []struct {
		what, method, path, query, body string
		status                          int
	}{
		{"PATCH", "PATCH", "/p/plain", pushPlainQuery(pushTok, ts, "nz"), good, 405},
		{"no timestamp", "POST", "/p/plain", url.Values{"nonce": {"nz"}, "signature": {pushSig(pushTok, "", "nz")}}.Encode(), good, 400},
		{"timestamp not an integer", "POST", "/p/plain", pushPlainQuery(pushTok, "12a", "nz"), good, 400},
		{"no nonce", "POST", "/p/plain", url.Values{"timestamp": {ts}, "signature": {pushSig(pushTok, ts, "")}}.Encode(), good, 400},
		{"neither XML nor JSON", "POST", "/p/plain", pushPlainQuery(pushTok, ts, "nz"), "MsgType=text&" + marker, 400},
		{"outer DOCTYPE", "POST", "/p/plain", pushPlainQuery(pushTok, ts, "nz"), `<!DOCTYPE xml [<!ENTITY e "` + marker + `">]><xml><MsgType>text</MsgType><Content>&e;</Content></xml>`, 400},
		{"outer ENTITY", "POST", "/p/plain", pushPlainQuery(pushTok, ts, "nz"), `<xml><!ENTITY e "x"><MsgType>text</MsgType></xml>`, 400},
		{"no MsgType (JSON)", "POST", "/p/plain", pushPlainQuery(pushTok, ts, "nz"), `{"Content":"` + marker + `"}`, 400},
		{"no MsgType (XML)", "POST", "/p/plain", pushPlainQuery(pushTok, ts, "nz"), noTypeXML, 400},
		{"no msg_signature", "POST", "/p/aes", url.Values{"timestamp": {ts}, "nonce": {"nz"}, "encrypt_type": {"aes"}}.Encode(), aesBody(garbage), 400},
		{"no Encrypt", "POST", "/p/aes", aesQ(""), `{"ToUserName":"gh","MsgType":"text","Content":"` + marker + `"}`, 400},
		{"decrypted DOCTYPE", "POST", "/p/aes", aesQ(withDoctype), aesBody(withDoctype), 400},
		{"decrypted garbage", "POST", "/p/aes", aesQ(garbage), aesBody(garbage), 400},
		{"decrypted without MsgType", "POST", "/p/aes", aesQ(noType), aesBody(noType), 400},
		{"wrong signature", "POST", "/p/plain", pushPlainQuery("not-the-token", ts, "nz"), good, 401},
		{"wrong msg_signature", "POST", "/p/aes", pushAESQuery("not-the-token", ts, "nz", garbage), aesBody(garbage), 401},
		{"msg_signature of another Encrypt", "POST", "/p/aes", aesQ(garbage), aesBody(noType), 401},
		{"plaintext on an aes route", "POST", "/p/aes", pushPlainQuery(pushTok, ts, "nz"), good, 401},
		{"Encrypt not base64", "POST", "/p/aes", aesQ("%%%not-base64%%%"), aesBody("%%%not-base64%%%"), 401},
		{"Encrypt bad padding", "POST", "/p/aes", aesQ(badPad), aesBody(badPad), 401},
		{"Encrypt bad length field", "POST", "/p/aes", aesQ(badLen), aesBody(badLen), 401},
		{"receiver appid of another app", "POST", "/p/aes", aesQ(wrongApp), aesBody(wrongApp), 401},
		{"body over max_body, no query", "POST", "/p/small", "", strings.Repeat("x", 1500), 413},
		{"body over max_body, bad signature", "POST", "/p/small", pushPlainQuery("bad", "x", ""), "<xml><MsgType>text</MsgType><Content>" + strings.Repeat("y", 1500) + "</Content></xml>", 413},
		{"body over max_body, PATCH (413 is decided first)", "PATCH", "/p/small", "", strings.Repeat("x", 1500), 413},
	} {
		n := e.b.n()
		pushRefused(t, c.what, pushDo(t, c.method, e.u(c.path, c.query), c.body), c.status, e.b, n)
	}
	// A push of exactly max_body (1KB = 1000 bytes) passes; one byte more does not.
	exact := `{"MsgType":"text","Content":"` + strings.Repeat("z", 1000-31) + `"}`
	if r := pushPlain(t, e, "/p/small", exact); r.Status != 200 || len(exact) != 1000 {
		t.Errorf("push of max_body bytes: %d %q", r.Status, r.Body)
	}
	n := e.b.n()
	pushRefused(t, "max_body + 1", pushPlain(t, e, "/p/small", exact+" "), 413, e.b, n)
	// One WARN line per refusal, naming the check, never a secret or the body.
	logs := pushReadFile(t, e.log)
	var warns []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(strings.ToLower(l), "warn") && strings.Contains(l, "message_notify") {
			warns = append(warns, l)
		}
	}
	for _, check := range []string{"msg_signature", "signature", "appid", "decrypt", "plaintext"} {
		found := false
		for _, l := range warns {
			if strings.Contains(l, `"check":"`+check+`"`) || strings.Contains(l, "check="+check) {
				found = true
			}
		}
		if !found {
			t.Errorf("no WARN line names check %s; WARN lines:\n%s", check, strings.Join(warns, "\n"))
		}
	}
	if len(warns) != 26 {
		t.Errorf("%d WARN lines for 26 refusals", len(warns))
	}
	qaNoneOf(t, "the log", []byte(logs), pushTok, pushK, pushUp, marker)
}

func TestAcceptancePushXMLToJSON(t *testing.T) {
	e := pushStart(t)
	x := `<xml>
  <ToUserName><![CDATA[gh_qa]]></ToUserName>
  <FromUserName><![CDATA[oQAUser]]></FromUserName>
  <CreateTime>1714037059</CreateTime>
  <MsgType><![CDATA[location]]></MsgType>
  <Location_X>23.134521</Location_X><Location_Y>-113.358803</Location_Y><Scale>20</Scale>
  <Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>
  <Label><![CDATA[  位置 信息  ]]></Label>
  <Content>123</Content><Count> 5 </Count><Idx>2</Idx><MsgDataId>10001</MsgDataId><errcode>0</errcode><version>2</version>
  <WXAppId>wxabc</WXAppId><trace_id>t-1</trace_id><appid>wx1</appid>
  <ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>
  <SubscribeMsgPopupEvent>
    <List><TemplateId>tA</TemplateId><SubscribeStatusString>accept</SubscribeStatusString><PopupScene>0</PopupScene></List>
    <List><TemplateId>tB</TemplateId><SubscribeStatusString>reject</SubscribeStatusString><PopupScene>0</PopupScene></List>
  </SubscribeMsgPopupEvent>
  <MsgId>7234567890123456789</MsgId>
</xml>`
	r := pushPlain(t, e, "/p/plain", x, "Content-Type", "application/octet-stream",
		"X-Unicloud-Provider", "forged", "X-Unicloud-Signature", "sha256=forged", "X-Unicloud-Extra", "forged")
	if r.Status != 200 || r.Body != "success" {
		t.Fatalf("XML push: %d %q", r.Status, r.Body)
	}
	g := e.b.last(t)
	for _, frag := range []string{`"createTime":1714037059`, `"locationX":23.134521`, `"locationY":-113.358803`, `"scale":20`,
		`"latitude":23.137466`, `"longitude":113.352425`, `"precision":119.385040`, `"idx":2`, `"msgDataId":10001`,
		`"errCode":0`, `"version":2`, `"msgId":7234567890123456789`, `"content":"123"`, `"count":"5"`, `"label":"位置 信息"`,
		`"wxAppId":"wxabc"`, `"traceId":"t-1"`, `"appid":"wx1"`, `"toUserName":"gh_qa"`, `"msgType":"location"`,
		`"scanCodeInfo":{`, `"scanResult":"1"`} {
		if !strings.Contains(string(g.Raw), frag) {
			t.Errorf("backend body lacks %s: %s", frag, g.Raw)
		}
	}
	pop, _ := g.Body["subscribeMsgPopupEvent"].(map[string]any)
	list, _ := pop["list"].([]any)
	if len(list) != 2 || qaJSON(list[1]) != `{"popupScene":"0","subscribeStatusString":"reject","templateId":"tB"}` {
		t.Errorf("repeated <List> is not an array of objects: %s", g.Raw)
	}
	h := g.Header
	if h.Get("X-Unicloud-Provider") != "weixin" || h.Get("X-Unicloud-Extra") != "" || h.Get("X-Unicloud-Message-Id") != "7234567890123456789" ||
		h.Get("X-Unicloud-Msg-Type") != "location" || h.Get("X-Unicloud-Event") != "" {
		t.Errorf("backend headers %v", h)
	}
	if h.Get("X-Unicloud-Signature") != "sha256="+xpayHMAC(pushUp, string(g.Raw)) {
		t.Errorf("X-Unicloud-Signature %q is not the HMAC of the body", h.Get("X-Unicloud-Signature"))
	}
	// MsgID (an event's spelling) names the message too; only the leading capital is lowered.
	r = pushPlain(t, e, "/p/plain", `<xml><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Latitude>n/a</Latitude></xml>`)
	if g = e.b.last(t); r.Status != 200 || g.Header.Get("X-Unicloud-Message-Id") != "200163836" || g.Header.Get("X-Unicloud-Event") != "TEMPLATESENDJOBFINISH" ||
		!strings.Contains(string(g.Raw), `"msgID":200163836`) || !strings.Contains(string(g.Raw), `"latitude":"n/a"`) {
		t.Errorf("MsgID push: %d; backend %s %v", r.Status, g.Raw, g.Header)
	}
}

func TestAcceptancePushJSONKeysAndNumbers(t *testing.T) {
	e := pushStart(t)
	j := `{"ToUserName":"gh_qa","FromUserName":"oQA","CreateTime":1626959646,"MsgType":"event","Event":"wxa_media_check",
	"appid":"wx8f16a5e6ea4b1234","trace_id":"60f96f1d-3845297a-1976a3ae","version":2,"WXAppId":"wxz","Location_X":1.50,
	"detail":[{"strategy":"content_model","errcode":0,"suggest":"pass","label":100,"prob":90}],"errcode":0,"errmsg":"ok",
	"result":{"suggest":"pass","label":100},"Content":"123","Flag":true,"Big":123456789012345678901234567890,"MsgId":7234567890123456789}`
	if r := pushPlain(t, e, "/p/plain", "\n  "+j, "Content-Type", "text/plain"); r.Status != 200 {
		t.Fatalf("JSON push: %d %q", r.Status, r.Body)
	}
	g := e.b.last(t)
	for _, frag := range []string{`"traceId":"60f96f1d-3845297a-1976a3ae"`, `"wxAppId":"wxz"`, `"locationX":1.50`, `"errCode":0`, `"errMsg":"ok"`,
		`"appid":"wx8f16a5e6ea4b1234"`, `"detail":[{`, `"version":2`, `"content":"123"`, `"flag":true`,
		`"big":123456789012345678901234567890`, `"msgId":7234567890123456789`, `"createTime":1626959646`} {
		if !strings.Contains(string(g.Raw), frag) {
			t.Errorf("backend body lacks %s: %s", frag, g.Raw)
		}
	}
	d, _ := g.Body["detail"].([]any)
	if len(d) != 1 || qaJSON(d[0]) != `{"errCode":0,"label":100,"prob":90,"strategy":"content_model","suggest":"pass"}` {
		t.Errorf("detail %v", g.Body["detail"])
	}
	if g.Header.Get("X-Unicloud-Message-Id") != "7234567890123456789" || g.Header.Get("X-Unicloud-Event") != "wxa_media_check" {
		t.Errorf("headers %v", g.Header)
	}
}

func TestAcceptancePushCompatibleModeUsesTheCiphertext(t *testing.T) {
	e := pushStart(t)
	inner := `<xml><ToUserName><![CDATA[gh_qa]]></ToUserName><FromUserName><![CDATA[oGenuine]]></FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[genuine]]></Content><MsgId>5001</MsgId></xml>`
	enc := pushEncrypt(t, pushK, pushApp2, []byte(inner))
	ts := pushNow()
	body := `<xml><ToUserName><![CDATA[gh_qa]]></ToUserName><FromUserName><![CDATA[oForged]]></FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[forged]]></Content><MsgId>6666</MsgId><Encrypt><![CDATA[` + enc + `]]></Encrypt></xml>`
	r := pushDo(t, "POST", e.u("/p/aes2", pushAESQuery(pushTok, ts, "cm", enc)), body)
	g := e.b.last(t)
	if r.Status != 200 || g.Body["content"] != "genuine" || g.Body["fromUserName"] != "oGenuine" || g.Body["encrypt"] != nil ||
		strings.Contains(string(g.Raw), "forged") || strings.Contains(string(g.Raw), "ncrypt") || g.Header.Get("X-Unicloud-Message-Id") != "5001" {
		t.Errorf("compatible push: %d; backend %s %v", r.Status, g.Raw, g.Header)
	}
}

func TestAcceptancePushEventIDs(t *testing.T) {
	e := pushStart(t)
	msg := `{"ToUserName":"gh_qa","FromUserName":"oQA","CreateTime":1700000000,"MsgType":"event","Event":"wxa_media_check","trace_id":"T1","result":{"suggest":"pass"}}`
	other := strings.Replace(msg, `"pass"`, `"risky"`, 1)
	var ids []string
	for i, m := range []string{msg, msg, other} {
		enc := pushEncrypt(t, pushVecKey, pushVecApp, []byte(m))
		ts := fmt.Sprint(1700000000 + i*7)
		nonce := fmt.Sprintf("nonce%d", i)
		r := pushDo(t, "POST", e.u("/p/vecsafe", pushAESQuery(pushVecToken, ts, nonce, enc)), qaJSON(map[string]string{"Encrypt": enc}))
		if r.Status != 200 || e.b.n() != i+1 {
			t.Fatalf("push %d: %d %q", i, r.Status, r.Body)
		}
		ids = append(ids, e.b.last(t).Header.Get("X-Unicloud-Message-Id"))
	}
	if !strings.HasPrefix(ids[0], "evt-") || ids[0] != ids[1] || ids[2] == ids[0] || ids[0] != strings.ToLower(ids[0]) {
		t.Errorf("event ids %q: the same message re-encrypted must keep its id, another result must not", ids)
	}
}

func TestAcceptancePushRepliesPlaintext(t *testing.T) {
	e := pushStart(t)
	xmlPush := func(id int) string {
		return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_qa]]></ToUserName><FromUserName><![CDATA[oQAUser]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[q]]></Content><MsgId>%d</MsgId></xml>`, id)
	}
	jsonPush := func(id int) string {
		return fmt.Sprintf(`{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1,"MsgType":"text","Content":"q","MsgId":%d}`, id)
	}
	xpayPush := `{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1,"MsgType":"event","Event":"xpay_goods_deliver_notify","OpenId":"oQAUser","OutTradeNo":"T-1"}`
	now := time.Now().Unix()
	for i, c := range []struct {
		what, push string
		status     int
		answer     string
		wantStatus int
		check      func(r pushResp) bool
	}{
		{"empty 200", xmlPush(1), 200, "", 200, func(r pushResp) bool { return r.Body == "success" && strings.HasPrefix(r.CType, "text/plain") }},
		{"204", jsonPush(2), 204, "", 200, func(r pushResp) bool { return r.Body == "success" }},
		{"success", jsonPush(3), 200, "success", 200, func(r pushResp) bool { return r.Body == "success" }},
		{"text reply, XML", xmlPush(4), 200, `{"msgType":"text","content":"hi","toUserName":"oEvil","fromUserName":"gh_evil","createTime":5}`, 200, func(r pushResp) bool {
			f := qaXMLFields([]byte(r.Body))
			var ct int64
			fmt.Sscan(f["CreateTime"], &ct)
			return strings.HasPrefix(r.Body, "<xml>") && strings.Contains(r.Body, "<Content><![CDATA[hi]]></Content>") &&
				strings.Contains(r.Body, "<ToUserName><![CDATA[oQAUser]]></ToUserName>") && strings.Contains(r.Body, "<FromUserName><![CDATA[gh_qa]]></FromUserName>") &&
				strings.Contains(r.Body, "<MsgType><![CDATA[text]]></MsgType>") && ct >= now-5 && ct <= now+60
		}},
		{"image reply, XML", xmlPush(5), 200, `{"msgType":"image","image":{"mediaId":"MEDIA_1"}}`, 200, func(r pushResp) bool {
			return strings.Contains(r.Body, "<Image><MediaId><![CDATA[MEDIA_1]]></MediaId></Image>")
		}},
		{"news reply, XML", xmlPush(6), 200, `{"msgType":"news","articleCount":2,"articles":[{"title":"t1","url":"u1"},{"title":"t2","url":"u2"}]}`, 200, func(r pushResp) bool {
			return regexp.MustCompile(`<Articles>\s*<item>.*<Title><!\[CDATA\[t1\]\]></Title>.*</item>\s*<item>.*<Title><!\[CDATA\[t2\]\]></Title>.*</item>\s*</Articles>`).MatchString(r.Body)
		}},
		{"transfer_customer_service, XML", xmlPush(7), 200, `{"msgType":"transfer_customer_service"}`, 200, func(r pushResp) bool {
			return strings.Contains(r.Body, "<MsgType><![CDATA[transfer_customer_service]]></MsgType>") && strings.Contains(r.Body, "<ToUserName><![CDATA[oQAUser]]>")
		}},
		{"text reply, JSON", jsonPush(8), 200, `{"msgType":"text","content":"hi","toUserName":"oEvil"}`, 200, func(r pushResp) bool {
			m := map[string]any{}
			if json.Unmarshal([]byte(r.Body), &m) != nil {
				return false
			}
			ct, _ := m["CreateTime"].(float64)
			return m["ToUserName"] == "oQAUser" && m["FromUserName"] == "gh_qa" && m["MsgType"] == "text" && m["Content"] == "hi" &&
				int64(ct) >= now-5 && int64(ct) <= now+60 && len(m) == 5
		}},
		{"other JSON object, JSON push", jsonPush(9), 200, `{"result_code":0,"result_info":"ok","evidence":"e1"}`, 200, func(r pushResp) bool {
			return qaJSON(pushJSONObj(t, r.Body)) == `{"evidence":"e1","result_code":0,"result_info":"ok"}`
		}},
		{"other JSON object, XML push", xmlPush(10), 200, `{"result_code":0}`, 500, func(r pushResp) bool { return r.Body == "fail" }},
		{"backend 503", xmlPush(11), 503, "down", 500, func(r pushResp) bool { return r.Body == "fail" }},
		{"backend 404", jsonPush(12), 404, "", 500, func(r pushResp) bool { return r.Body == "fail" }},
		{"text body", jsonPush(13), 200, "ok", 500, func(r pushResp) bool { return r.Body == "fail" }},
		{"HTML body", xmlPush(14), 200, "<html><body>ok</body></html>", 500, func(r pushResp) bool { return r.Body == "fail" }},
		{"XML body", xmlPush(15), 200, "<xml><a>1</a></xml>", 500, func(r pushResp) bool { return r.Body == "fail" }},
		{"xpay, empty 200", xpayPush, 200, "", 200, func(r pushResp) bool {
			return r.Body == `{"ErrCode":0,"ErrMsg":"success"}` && strings.HasPrefix(r.CType, "application/json")
		}},
		{"xpay, success", xpayPush, 200, "success", 200, func(r pushResp) bool { return r.Body == `{"ErrCode":0,"ErrMsg":"success"}` }},
		{"xpay, backend 500", xpayPush, 500, "", 500, func(r pushResp) bool { return r.Body == `{"ErrCode":1,"ErrMsg":"backend failed"}` }},
		{"xpay in XML, empty 200", `<xml><ToUserName>gh_qa</ToUserName><FromUserName>oQAUser</FromUserName><MsgType>event</MsgType><Event>xpay_refund_notify</Event></xml>`, 200, "", 200,
			func(r pushResp) bool { return r.Body == "success" && strings.HasPrefix(r.CType, "text/plain") }},
		// The refusal row names no format: an xpay_* push in XML gets the JSON refusal too.
		{"xpay in XML, backend 500", `<xml><ToUserName>gh_qa</ToUserName><FromUserName>oQAUser</FromUserName><MsgType>event</MsgType><Event>xpay_refund_notify</Event></xml>`, 500, "", 500,
			func(r pushResp) bool {
				return r.Body == `{"ErrCode":1,"ErrMsg":"backend failed"}` && strings.HasPrefix(r.CType, "application/json")
			}},
	} {
		st, ans := c.status, c.answer
		e.b.setAnswer(func(pushGot) (int, string) { return st, ans })
		n := e.b.n()
		r := pushDo(t, "POST", e.u("/p/plain", pushPlainQuery(pushTok, pushNow(), fmt.Sprint("r", i))), c.push)
		if r.Status != c.wantStatus || !c.check(r) || e.b.n() != n+1 {
			t.Errorf("%s: WeChat got %d %q %q", c.what, r.Status, r.CType, r.Body)
		}
	}
	// No backend answer at all.
	if r := pushPlain(t, e, "/p/dead", jsonPush(20)); r.Status != 500 || r.Body != "fail" {
		t.Errorf("backend unreachable: %d %q, want 500 fail", r.Status, r.Body)
	}
}

// pushOpenReply checks an encrypted reply envelope and opens it.
func pushOpenReply(t *testing.T, what string, r pushResp, pushNonce string) string {
	t.Helper()
	var enc, sig, ts, nonce string
	if strings.HasPrefix(r.Body, "<xml>") {
		f := qaXMLFields([]byte(r.Body))
		enc, sig, ts, nonce = f["Encrypt"], f["MsgSignature"], f["TimeStamp"], f["Nonce"]
		if !strings.Contains(r.Body, "<Encrypt><![CDATA[") || !strings.Contains(r.Body, "<MsgSignature><![CDATA[") || !strings.Contains(r.Body, "<Nonce><![CDATA[") {
			t.Errorf("%s: the XML envelope is not WeChat's: %s", what, r.Body)
		}
	} else {
		m := pushJSONObj(t, r.Body)
		enc, sig, nonce = qaStr(m, "Encrypt"), qaStr(m, "MsgSignature"), qaStr(m, "Nonce")
		n, ok := m["TimeStamp"].(json.Number)
		ts = string(n)
		if !ok || len(m) != 4 {
			t.Errorf("%s: the JSON envelope is not {Encrypt,MsgSignature,TimeStamp:<number>,Nonce}: %s", what, r.Body)
		}
	}
	var tsn int64
	fmt.Sscan(ts, &tsn)
	if d := time.Now().Unix() - tsn; d < -5 || d > 60 || nonce == "" || nonce == pushNonce {
		t.Errorf("%s: TimeStamp %q Nonce %q are not the gateway's own", what, ts, nonce)
	}
	if sig != pushSig(pushTok, ts, nonce, enc) {
		t.Errorf("%s: MsgSignature %q is not sha1(sort(token, TimeStamp, Nonce, Encrypt))", what, sig)
	}
	msg, app, err := pushDecrypt(t, pushK, enc)
	if err != nil || app != pushApp {
		t.Errorf("%s: the reply does not open (%v) or names receiver %q", what, err, app)
	}
	return string(msg)
}

func TestAcceptancePushRepliesSafeMode(t *testing.T) {
	e := pushStart(t)
	text := func(id int, asJSON bool) string {
		if asJSON {
			return fmt.Sprintf(`{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1,"MsgType":"text","Content":"q","MsgId":%d}`, id)
		}
		return fmt.Sprintf(`<xml><ToUserName>gh_qa</ToUserName><FromUserName>oQAUser</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>q</Content><MsgId>%d</MsgId></xml>`, id)
	}
	e.b.setAnswer(func(pushGot) (int, string) { return 200, `{"msgType":"text","content":"hi"}` })
	r, nonce := pushSafe(t, e, "/p/aes", pushApp, text(101, false), false)
	if r.Status != 200 {
		t.Fatalf("safe XML push: %d %q", r.Status, r.Body)
	}
	if m := pushOpenReply(t, "XML reply", r, nonce); !strings.Contains(m, "<Content><![CDATA[hi]]></Content>") || !strings.Contains(m, "<ToUserName><![CDATA[oQAUser]]></ToUserName>") {
		t.Errorf("decrypted XML reply %q", m)
	}
	r, nonce = pushSafe(t, e, "/p/aes", pushApp, text(102, true), true)
	if m := pushOpenReply(t, "JSON reply", r, nonce); !strings.Contains(m, `"Content":"hi"`) || !strings.Contains(m, `"ToUserName":"oQAUser"`) {
		t.Errorf("decrypted JSON reply %q", m)
	}
	e.b.setAnswer(func(pushGot) (int, string) { return 200, `{"result_code":0,"result_info":"ok","evidence":"e1"}` })
	r, nonce = pushSafe(t, e, "/p/aes", pushApp, text(103, true), true)
	if m := pushOpenReply(t, "verbatim object", r, nonce); qaJSON(pushJSONObj(t, m)) != `{"evidence":"e1","result_code":0,"result_info":"ok"}` {
		t.Errorf("decrypted verbatim reply %q", m)
	}
	// The acknowledgements are never encrypted.
	e.b.setAnswer(nil)
	if r, _ = pushSafe(t, e, "/p/aes", pushApp, text(104, true), true); r.Status != 200 || r.Body != "success" {
		t.Errorf("safe push, empty answer: %d %q, want plaintext success", r.Status, r.Body)
	}
	xp := `{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1,"MsgType":"event","Event":"xpay_coin_pay_notify","OpenId":"oQAUser","OutTradeNo":"C-1","CoinInfo":{"Quantity":10}}`
	if r, _ = pushSafe(t, e, "/p/aes", pushApp, xp, true); r.Status != 200 || r.Body != `{"ErrCode":0,"ErrMsg":"success"}` {
		t.Errorf("safe xpay push: %d %q, want the plaintext ack", r.Status, r.Body)
	}
	g := e.b.last(t)
	if coin, _ := g.Body["coinInfo"].(map[string]any); g.Body["outTradeNo"] != "C-1" || g.Body["openId"] != "oQAUser" || coin["quantity"] != json.Number("10") ||
		g.Header.Get("X-Unicloud-Event") != "xpay_coin_pay_notify" {
		t.Errorf("xpay push reached the backend as %s", g.Raw)
	}
}

func TestAcceptancePushDedupe(t *testing.T) {
	e := pushStart(t)
	msg := `{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1,"MsgType":"text","Content":"q","MsgId":8000000000000000001}`
	e.b.setAnswer(func(pushGot) (int, string) { return 200, `{"msgType":"text","content":"first answer"}` })
	r1, n1 := pushSafe(t, e, "/p/aes", pushApp, msg, true)
	first := pushOpenReply(t, "first", r1, n1)
	e.b.setAnswer(func(pushGot) (int, string) { return 200, `{"msgType":"text","content":"second answer"}` })
	n := e.b.n()
	r2, n2 := pushSafe(t, e, "/p/aes", pushApp, msg, true)
	second := pushOpenReply(t, "retry", r2, n2)
	if e.b.n() != n || !strings.Contains(second, `"Content":"first answer"`) || !strings.Contains(first, `"Content":"first answer"`) ||
		pushJSONObj(t, r1.Body)["Encrypt"] == pushJSONObj(t, r2.Body)["Encrypt"] {
		t.Errorf("retry: backend calls %d→%d, reply %q (first %q), want the recorded reply encrypted afresh", n, e.b.n(), second, first)
	}
	// A retry is still verified.
	enc := pushEncrypt(t, pushK, pushApp, []byte(msg))
	pushRefused(t, "recorded id, bad msg_signature", pushDo(t, "POST", e.u("/p/aes", pushAESQuery("wrong", pushNow(), "x", enc)),
		qaJSON(map[string]string{"Encrypt": enc})), 401, e.b, n)
	// Scoped by app_id: the same MsgId of another app is forwarded.
	if r, _ := pushSafe(t, e, "/p/aes2", pushApp2, msg, false); r.Status != 200 || e.b.n() != n+1 {
		t.Errorf("same MsgId, other app: %d, backend calls %d→%d", r.Status, n, e.b.n())
	}
	// A failed push is not recorded: its retry is forwarded again.
	failing := strings.Replace(msg, "8000000000000000001", "8000000000000000002", 1)
	e.b.setAnswer(func(pushGot) (int, string) { return 503, "" })
	if r, _ := pushSafe(t, e, "/p/aes", pushApp, failing, true); r.Status != 500 {
		t.Errorf("failing backend: %d", r.Status)
	}
	e.b.setAnswer(nil)
	n = e.b.n()
	if r, _ := pushSafe(t, e, "/p/aes", pushApp, failing, true); r.Status != 200 || r.Body != "success" || e.b.n() != n+1 {
		t.Errorf("retry of a failed push: %d %q, backend calls %d→%d", r.Status, r.Body, n, e.b.n())
	}
	// An xpay event (no MsgId): its retry, in a new envelope, gets the ack without the backend.
	xp := `{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1700000001,"MsgType":"event","Event":"xpay_goods_deliver_notify","OpenId":"oQAUser","OutTradeNo":"D-1","RetryTimes":0}`
	if r, _ := pushSafe(t, e, "/p/aes", pushApp, xp, true); r.Body != `{"ErrCode":0,"ErrMsg":"success"}` {
		t.Fatalf("xpay push: %d %q", r.Status, r.Body)
	}
	n = e.b.n()
	if r, _ := pushSafe(t, e, "/p/aes", pushApp, xp, true); r.Status != 200 || r.Body != `{"ErrCode":0,"ErrMsg":"success"}` || e.b.n() != n {
		t.Errorf("xpay retry: %d %q, backend calls %d→%d", r.Status, r.Body, n, e.b.n())
	}
	// Another instance sharing the storage answers the retry too.
	gw2 := freeAddr(t)
	startChildCaddy(t, globalOptions(e.storage, "")+"http://"+gw2+" {\n"+pushRoute("/p/aes", e.b.url,
		fmt.Sprintf("\t\t\ttoken %s\n\t\t\tencoding_aes_key %s\n\t\t\tapp_id %s\n\t\t\tdedupe 10m\n", pushTok, pushK, pushApp))+"}\n")
	e2 := &pushEnv{gw: gw2}
	r3, n3 := pushSafe(t, e2, "/p/aes", pushApp, msg, true)
	if third := pushOpenReply(t, "other instance", r3, n3); e.b.n() != n || !strings.Contains(third, "first answer") {
		t.Errorf("other instance: backend calls %d→%d, reply %q", n, e.b.n(), third)
	}
}

func TestAcceptancePushEmulatorHooks(t *testing.T) {
	e := pushStart(t)
	hook := func(app, body string) (int, map[string]any) {
		st, m, _ := qaPost(t, "http://"+e.emu+"/_emulator/weixin/push?appid="+app, body)
		return st, m
	}
	// Plaintext XML target: ToUserName, FromUserName, CreateTime filled in.
	before := time.Now().Unix()
	st, m := hook(pushApp3, `{"MsgType":"text","Content":"hi from the emulator","MsgId":31}`)
	g := e.b.last(t)
	var ct int64
	fmt.Sscan(fmt.Sprint(g.Body["createTime"]), &ct)
	if st != 200 || fmt.Sprint(m["errCode"]) != "0" || m["errMsg"] != "ok" || fmt.Sprint(m["status"]) != "200" || m["body"] != "success" {
		t.Errorf("hook answer %d %v", st, m)
	}
	if g.Path != "/p/plain" || g.Body["content"] != "hi from the emulator" || qaStr(g.Body, "toUserName") == "" || qaStr(g.Body, "fromUserName") == "" ||
		ct < before-5 || ct > before+60 || g.Header.Get("X-Unicloud-Message-Id") != "31" {
		t.Errorf("plaintext emulator push reached the backend as %s", g.Raw)
	}
	// The target's status and body are shown as they are.
	e.b.setAnswer(func(pushGot) (int, string) { return 503, "" })
	if st, m = hook(pushApp3, `{"MsgType":"text","Content":"x","MsgId":32}`); fmt.Sprint(m["status"]) != "500" || m["body"] != "fail" {
		t.Errorf("hook with a failing backend: %d %v", st, m)
	}
	// Compatible XML target: the encrypted reply comes back decrypted.
	e.b.setAnswer(func(pushGot) (int, string) { return 200, `{"msgType":"text","content":"compat reply"}` })
	st, m = hook(pushApp2, `{"MsgType":"text","Content":"compat","MsgId":33,"ToUserName":"gh_set","FromUserName":"oSet","CreateTime":1234}`)
	g = e.b.last(t)
	if st != 200 || fmt.Sprint(m["status"]) != "200" || !strings.Contains(qaStr(m, "reply"), "<Content><![CDATA[compat reply]]></Content>") ||
		!strings.Contains(qaStr(m, "reply"), "<ToUserName><![CDATA[oSet]]></ToUserName>") {
		t.Errorf("compatible hook answer %d %v", st, m)
	}
	if g.Path != "/p/aes2" || g.Body["content"] != "compat" || g.Body["toUserName"] != "gh_set" || g.Body["createTime"] != json.Number("1234") {
		t.Errorf("compatible emulator push reached the backend as %s", g.Raw)
	}
	if st, _ := hook("wx_not_configured_1", `{"MsgType":"text"}`); st != 404 {
		t.Errorf("hook for an app without a push target: %d, want 404", st)
	}
}

func TestAcceptancePushMediaCheckAsync(t *testing.T) {
	e := pushStart(t)
	st, m, raw := qaPost(t, "http://"+e.gw+"/wx/request", qaJSON(map[string]any{"method": "POST", "url": "/wxa/media_check_async",
		"data": map[string]any{"media_url": "https://example.com/fine.png", "media_type": 2, "version": 2, "scene": 1, "openid": "oQAMedia"}}))
	trace := qaStr(m, "traceId")
	if st != 200 || trace == "" {
		t.Fatalf("mediaCheckAsync: %d %s", st, raw)
	}
	g := e.b.wait(t, 1) // the push is asynchronous
	res, _ := g.Body["result"].(map[string]any)
	det, _ := g.Body["detail"].([]any)
	if g.Path != "/p/aes" || g.Body["traceId"] != trace || g.Body["event"] != "wxa_media_check" || g.Body["msgType"] != "event" ||
		res["suggest"] != "pass" || g.Body["version"] != json.Number("2") || len(det) == 0 || g.Body["errCode"] != json.Number("0") ||
		g.Body["appid"] != pushApp || qaStr(g.Body, "toUserName") == "" || g.Body["trace_id"] != nil ||
		!strings.HasPrefix(g.Header.Get("X-Unicloud-Message-Id"), "evt-") {
		t.Errorf("wxa_media_check reached the backend as %s %v", g.Raw, g.Header)
	}
	st, m, raw = qaDo(t, "GET", "http://"+e.emu+"/_emulator/weixin/pushes?trace_id="+url.QueryEscape(trace), "", "")
	if st != 200 || fmt.Sprint(m["status"]) != "200" || m["body"] != "success" {
		t.Errorf("pushes hook: %d %s", st, raw)
	}
}

func TestAcceptancePushConfigRefused(t *testing.T) {
	t.Setenv("QA_PUSH_BADKEY", "tooShort")
	for name, body := range map[string]string{
		"no token":                        "app_id wx1\n",
		"key of 42 characters":            "token T\nencoding_aes_key " + pushK[:42] + "\napp_id wx1\n",
		"key not base64":                  "token T\nencoding_aes_key " + strings.Repeat("!", 43) + "\napp_id wx1\n",
		"key without app_id":              "token T\nencoding_aes_key " + pushK + "\n",
		"bad key from placeholder":        "token T\nencoding_aes_key {env.QA_PUSH_BADKEY}\napp_id wx1\n",
		"unknown subdirective":            "token T\nmax_age 5m\n",
		"max_skew not a duration":         "token T\nmax_skew soon\n",
		"max_body not a size":             "token T\nmax_body lots\n",
		"upstream_secret without a value": "upstream_secret\ntoken T\n",
	} {
		cf := "{\n\tadmin off\n}\n:0 {\n\troute /p {\n\t\tunicloud_message_notify weixin {\n" + body + "\t\t}\n\t\trespond 200\n\t}\n}\n"
		if err := qaValidate(t, cf); err == nil {
			t.Errorf("%s: the config loads", name)
		}
	}
	t.Setenv("QA_PUSH_GOODKEY", pushK)
	t.Setenv("QA_PUSH_TOKEN", "T")
	if err := qaValidate(t, "{\n\tadmin off\n}\n:0 {\n\tunicloud_message_notify weixin {\n\t\ttoken {env.QA_PUSH_TOKEN}\n\t\tencoding_aes_key {env.QA_PUSH_GOODKEY}\n\t\tapp_id wx1\n\t}\n}\n"); err != nil {
		t.Errorf("a key from a placeholder: %v", err)
	}
}

// A retry that arrives while the first copy is still at the backend is
// forwarded (with dedupe on); once the backend took the push, the next
// retry is answered from the record.
func TestAcceptancePushDedupeRetryDuringDelivery(t *testing.T) {
	e := pushStart(t)
	msg := `{"ToUserName":"gh_qa","FromUserName":"oQAUser","CreateTime":1,"MsgType":"text","Content":"slow","MsgId":8200000000000000001}`
	in, hold := make(chan struct{}, 4), make(chan struct{})
	e.b.setAnswer(func(pushGot) (int, string) {
		in <- struct{}{}
		<-hold
		return 200, ""
	})
	defer e.b.setAnswer(nil)
	n := e.b.n()
	type result struct {
		status int
		body   string
	}
	done := make(chan result, 2)
	send := func() {
		r, _ := pushSafe(t, e, "/p/aes", pushApp, msg, true)
		done <- result{r.Status, r.Body}
	}
	go send()
	<-in // the first copy is at the backend
	go send()
	<-in // the retry reaches the backend while the first is still there
	close(hold)
	for range 2 {
		if r := <-done; r.status != 200 || r.body != "success" {
			t.Errorf("a copy was answered %d %q", r.status, r.body)
		}
	}
	if got := e.b.n() - n; got != 2 {
		t.Fatalf("%d deliveries, want 2", got)
	}
	if r, _ := pushSafe(t, e, "/p/aes", pushApp, msg, true); r.Status != 200 || r.Body != "success" || e.b.n()-n != 2 {
		t.Errorf("a later retry: %d %q, %d deliveries", r.Status, r.Body, e.b.n()-n)
	}
}
