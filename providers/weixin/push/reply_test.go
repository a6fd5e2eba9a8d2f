package push

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/internal/wxxml"
	"github.com/caddy-unicloud/unicloud/signing"
)

func message(f Format, encrypted bool, event string) *Message {
	mt := "text"
	if event != "" {
		mt = "event"
	}
	return &Message{Format: f, Encrypted: encrypted, MsgType: mt, Event: event, ToUserName: "gh_1", FromUserName: "o_user"}
}

func TestRespondPlain(t *testing.T) {
	v := plainVerifier()
	cases := []struct {
		name    string
		m       *Message
		backend string
		kind    AnswerKind
		ct      string
		body    string
	}{
		{"empty", message(XML, false, ""), "", Ack, textPlain, "success"},
		{"success", message(JSON, false, ""), " success\n", Ack, textPlain, "success"},
		{"xpay json", message(JSON, false, "xpay_goods_deliver_notify"), "", Ack, appJSON, xpayAck},
		{"xpay xml", message(XML, false, "xpay_goods_deliver_notify"), "success", Ack, textPlain, "success"},
		{"xpay own ack", message(JSON, false, "xpay_coin_pay_notify"), `{"ErrCode":0,"ErrMsg":"success"}`, Ack, appJSON, xpayAck},
		{"passive xml", message(XML, false, ""), `{"msgType":"text","content":"hi ]]> there","toUserName":"x","createTime":1}`, Passive, textXML,
			"<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1700000000</CreateTime>" +
				"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi ]]]]><![CDATA[> there]]></Content></xml>"},
		{"passive image xml", message(XML, false, ""), `{"msgType":"image","image":{"mediaId":"M1"}}`, Passive, textXML,
			"<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1700000000</CreateTime>" +
				"<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[M1]]></MediaId></Image></xml>"},
		{"passive news xml", message(XML, false, ""), `{"msgType":"news","articleCount":1,"articles":[{"title":"T"}]}`, Passive, textXML,
			"<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1700000000</CreateTime>" +
				"<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[T]]></Title></item></Articles></xml>"},
		{"passive music xml (WeChat spells HQMusicUrl)", message(XML, false, ""), `{"msgType":"music","music":{"title":"T","musicUrl":"http://m/1","hqMusicUrl":"http://m/hq","thumbMediaId":"M2"}}`, Passive, textXML,
			"<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1700000000</CreateTime>" +
				"<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[T]]></Title><MusicUrl><![CDATA[http://m/1]]></MusicUrl>" +
				"<HQMusicUrl><![CDATA[http://m/hq]]></HQMusicUrl><ThumbMediaId><![CDATA[M2]]></ThumbMediaId></Music></xml>"},
		{"passive json", message(JSON, false, ""), `{"msgType":"transfer_customer_service"}`, Passive, appJSON,
			`{"ToUserName":"o_user","FromUserName":"gh_1","CreateTime":1700000000,"MsgType":"transfer_customer_service"}`},
		{"verbatim json", message(JSON, false, "xpay_subscribe_ios_refund_query_notify"), `{"result_code":0,"result_info":"ok","evidence":"e"}`, Verbatim, appJSON,
			`{"result_code":0,"result_info":"ok","evidence":"e"}`},
	}
	for _, c := range cases {
		a, err := v.Respond(c.m, []byte(c.backend), 1700000000)
		if err != nil || a.Kind != c.kind || a.Status != 200 || a.ContentType != c.ct || string(a.Body) != c.body {
			t.Errorf("%s: %+v %s, %v\nwant %s", c.name, a, a.Body, err, c.body)
		}
		if c.m.Format == XML && c.kind == Passive {
			if _, err := wxxml.Parse(a.Body); err != nil {
				t.Errorf("%s: reply is not XML: %v", c.name, err)
			}
		}
	}
	for _, bad := range []string{"ok", "<html></html>", "<xml/>", "[1]", `"s"`, "{bad"} {
		if _, err := v.Respond(message(JSON, false, ""), []byte(bad), 1); !errors.Is(err, ErrBackendAnswer) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// Another JSON object is verbatim only for a JSON push.
	if _, err := v.Respond(message(XML, false, ""), []byte(`{"a":1}`), 1); !errors.Is(err, ErrBackendAnswer) {
		t.Errorf("object for an XML push: %v", err)
	}
}

func TestRespondEncrypted(t *testing.T) {
	v := aesVerifier()
	for _, f := range []Format{XML, JSON} {
		// Acks stay plaintext.
		a, err := v.Respond(message(f, true, "xpay_goods_deliver_notify"), nil, 1700000000)
		if err != nil || a.Kind != Ack || strings.Contains(string(a.Body), "Encrypt") {
			t.Fatalf("%s ack: %s %v", f, a.Body, err)
		}
		a, err = v.Respond(message(f, true, ""), []byte(`{"msgType":"text","content":"hi"}`), 1700000000)
		if err != nil || a.Kind != Passive {
			t.Fatalf("%s: %v", f, err)
		}
		var enc, sig, ts, nonce string
		if f == JSON {
			var env struct {
				Encrypt, MsgSignature, Nonce string
				TimeStamp                    json.Number
			}
			if err := json.Unmarshal(a.Body, &env); err != nil {
				t.Fatalf("%s", a.Body)
			}
			enc, sig, ts, nonce = env.Encrypt, env.MsgSignature, env.TimeStamp.String(), env.Nonce
		} else {
			root, err := wxxml.Parse(a.Body)
			if err != nil {
				t.Fatalf("%s: %v", a.Body, err)
			}
			enc, sig, ts, nonce = child(root, "Encrypt"), child(root, "MsgSignature"), child(root, "TimeStamp"), child(root, "Nonce")
		}
		if ts != "1700000000" || nonce == "" || !signing.EqualHex(sig, signing.OASignature("T", ts, nonce, enc)) {
			t.Fatalf("%s envelope %s", f, a.Body)
		}
		plain, appID, err := signing.DecryptOAMessage(testKey, enc)
		if err != nil || appID != v.AppID || !strings.Contains(string(plain), "hi") {
			t.Fatalf("%s: %q %q %v", f, plain, appID, err)
		}
	}
	// A verbatim object is encrypted too.
	a, err := v.Respond(message(JSON, true, ""), []byte(`{"result_code":0}`), 1700000000)
	if err != nil || a.Kind != Verbatim || !strings.Contains(string(a.Body), `"Encrypt"`) {
		t.Fatalf("verbatim: %s %v", a.Body, err)
	}
}

func TestFail(t *testing.T) {
	if a := Fail(message(JSON, true, "xpay_refund_notify")); a.Status != 500 || string(a.Body) != `{"ErrCode":1,"ErrMsg":"backend failed"}` {
		t.Fatalf("%+v", a)
	}
	if a := Fail(message(XML, false, "xpay_refund_notify")); a.Status != 500 || a.ContentType != appJSON || string(a.Body) != `{"ErrCode":1,"ErrMsg":"backend failed"}` {
		t.Fatalf("xpay in XML: %+v", a)
	}
	if a := Fail(message(XML, false, "")); a.Status != 500 || string(a.Body) != "fail" {
		t.Fatalf("%+v", a)
	}
}

// BenchmarkOpen compares verifying a safe-mode XML push with its AES +
// SHA1 cost alone (the goal: at most twice that).
func BenchmarkOpen(b *testing.B) {
	v := aesVerifier()
	msg := `<xml><ToUserName><![CDATA[gh_9df7d78a1234]]></ToUserName><FromUserName><![CDATA[o4_t144jTUSEoxydysUA2E234_tc]]></FromUserName>` +
		`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>7234567890123456789</MsgId></xml>`
	p, body := seal(b, v, XML, msg, "", 1700000000, "n1")
	b.Run("open_safe_xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Open(p, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	root, _ := wxxml.Parse(body)
	enc := child(root, "Encrypt")
	b.Run("aes_sha1_only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !signing.EqualHex(signing.OASignature(v.Token, p.Timestamp, p.Nonce, enc), p.MsgSignature) {
				b.Fatal("signature")
			}
			if _, _, err := signing.DecryptOAMessage(v.EncodingAESKey, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// child is the text of root's first child named name ("" for none).
func child(root *wxxml.Element, name string) string {
	for _, c := range root.Children {
		if c.Name == name {
			return c.Text
		}
	}
	return ""
}
