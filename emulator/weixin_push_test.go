package emulator

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	pushToken = "push-token"
	pushKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// received is one push a fake message server got.
type received struct {
	query map[string]string
	body  []byte
}

// messageServer is a fake message server: it records each push on a
// channel and answers with answer.
func messageServer(t *testing.T, answer func(received) string) (string, chan received) {
	ch := make(chan received, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q := map[string]string{}
		for k := range r.URL.Query() {
			q[k] = r.URL.Query().Get(k)
		}
		rc := received{query: q, body: b}
		_, _ = io.WriteString(w, answer(rc))
		ch <- rc
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/wx/push", ch
}

func pushServer(t *testing.T, targets ...WeixinMessagePush) *Server {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	return New(Config{WeixinApps: map[string]string{testApp: testSecret}, Now: clock.Now, WeixinMessagePushes: targets})
}

// opened verifies and decrypts a push as a message server would.
func opened(t *testing.T, target WeixinMessagePush, rc received) map[string]any {
	t.Helper()
	q := rc.query
	if !signing.EqualHex(q["signature"], signing.OASignature(target.Token, q["timestamp"], q["nonce"])) || q["timestamp"] != "1700000000" {
		t.Fatalf("signature: %v", q)
	}
	msg := rc.body
	if target.mode() != "plaintext" {
		var enc string
		if target.format() == "json" {
			var env map[string]any
			_ = json.Unmarshal(rc.body, &env)
			enc, _ = env["Encrypt"].(string)
			if target.mode() == "safe" && len(env) != 2 {
				t.Fatalf("safe mode carries ToUserName and Encrypt only: %s", rc.body)
			}
		} else {
			var env struct{ Encrypt string }
			_ = xml.Unmarshal(rc.body, &env)
			enc = env.Encrypt
		}
		if q["encrypt_type"] != "aes" || !signing.EqualHex(q["msg_signature"], signing.OASignature(target.Token, q["timestamp"], q["nonce"], enc)) {
			t.Fatalf("msg_signature: %v", q)
		}
		var appid string
		var err error
		if msg, appid, err = signing.DecryptOAMessage(target.EncodingAESKey, enc); err != nil || appid != target.AppID {
			t.Fatalf("decrypt: %v %q", err, appid)
		}
	}
	out := map[string]any{}
	if target.format() == "json" {
		if err := json.Unmarshal(msg, &out); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		return out
	}
	var x struct {
		Fields []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(msg, &x); err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	for _, f := range x.Fields {
		out[f.XMLName.Local] = f.Text
	}
	return out
}

func TestPushHookModes(t *testing.T) {
	for _, mode := range []string{"plaintext", "compatible", "safe"} {
		for _, format := range []string{"json", "xml"} {
			url, ch := messageServer(t, func(received) string { return "success" })
			target := WeixinMessagePush{AppID: testApp, URL: url, Token: pushToken, Mode: mode, Format: format}
			if mode != "plaintext" {
				target.EncodingAESKey = pushKey
			}
			s := pushServer(t, target)
			res := postJSON(t, s, "/_emulator/weixin/push?appid="+testApp, map[string]any{"MsgType": "event", "Event": "debug_demo", "debug_str": "hello"})
			if res["status"] != json.Number("200") && res["status"] != float64(200) || res["body"] != "success" || errcode(res) != 0 {
				t.Fatalf("%s %s: %v", mode, format, res)
			}
			rc := <-ch
			msg := opened(t, target, rc)
			if msg["Event"] != "debug_demo" || msg["debug_str"] != "hello" || msg["ToUserName"] == "" || msg["FromUserName"] == "" {
				t.Fatalf("%s %s: %v", mode, format, msg)
			}
		}
	}
}

func TestPushHookDecryptsReply(t *testing.T) {
	target := WeixinMessagePush{AppID: testApp, Token: pushToken, EncodingAESKey: pushKey, Format: "json"}
	url, _ := messageServer(t, func(received) string {
		enc, _ := signing.EncryptOAMessage(pushKey, testApp, []byte(`{"MsgType":"text","Content":"hi"}`))
		return `{"Encrypt":"` + enc + `","MsgSignature":"` + signing.OASignature(pushToken, "1700000001", "77", enc) + `","TimeStamp":1700000001,"Nonce":"77"}`
	})
	target.URL = url
	s := pushServer(t, target)
	res := postJSON(t, s, "/_emulator/weixin/push?appid="+testApp, map[string]any{"MsgType": "text", "Content": "q"})
	if res["reply"] != `{"MsgType":"text","Content":"hi"}` {
		t.Fatalf("%v", res)
	}
}

func TestPushHookErrors(t *testing.T) {
	s := pushServer(t)
	w := do(s, http.MethodPost, "/_emulator/weixin/push?appid="+testApp, strings.NewReader(`{}`), "application/json")
	if w.Code != http.StatusNotFound {
		t.Fatalf("no target: %d", w.Code)
	}
	bad := WeixinMessagePush{AppID: testApp, URL: "http://127.0.0.1:1/x", Token: "t", Mode: "safe"}
	if bad.Validate() == nil {
		t.Fatal("safe mode without a key validates")
	}
}

// TestMediaCheckAsyncPushes: the answer's trace_id reaches the message
// server in a wxa_media_check push.
func TestMediaCheckAsyncPushes(t *testing.T) {
	url, ch := messageServer(t, func(received) string { return "success" })
	target := WeixinMessagePush{AppID: testApp, URL: url, Token: pushToken, EncodingAESKey: pushKey}
	s := pushServer(t, target)
	done := make(chan PushResult, 1)
	s.OnWeixinPush(func(r PushResult) { done <- r })
	tok := classicToken(t, s, testApp, testSecret)
	for _, c := range []struct{ url, suggest string }{{"https://example.com/a.jpg", "pass"}, {"https://example.com/risky.jpg", "risky"}} {
		res := postJSON(t, s, "/wxa/media_check_async?access_token="+tok, map[string]any{"media_url": c.url, "media_type": 2, "version": 2, "scene": 1, "openid": "o_user"})
		trace, _ := res["trace_id"].(string)
		if errcode(res) != 0 || trace == "" {
			t.Fatalf("%v", res)
		}
		if r := <-done; r.Status != 200 || r.ErrCode != 0 {
			t.Fatalf("push result %+v", r)
		}
		msg := opened(t, target, <-ch)
		result, _ := msg["result"].(map[string]any)
		if msg["Event"] != "wxa_media_check" || msg["trace_id"] != trace || msg["version"] != float64(2) || result["suggest"] != c.suggest || msg["FromUserName"] != "o_user" {
			t.Fatalf("%v", msg)
		}
	}
	if res := postJSON(t, s, "/wxa/media_check_async?access_token="+tok, map[string]any{"media_type": 2}); errcode(res) == 0 {
		t.Fatalf("no media_url: %v", res)
	}
}
