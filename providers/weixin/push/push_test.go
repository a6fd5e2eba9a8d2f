package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/vectors"
	"github.com/caddy-unicloud/unicloud/signing"
)

// pushVectors are WeChat's documented examples (testdata/weixin_push).
type pushVectors struct {
	URLCheck struct {
		Token, Timestamp, Nonce, Echostr, Signature string
	} `json:"url_check"`
	PlaintextJSON struct {
		Token, Timestamp, Nonce, Signature, Body string
	} `json:"plaintext_json"`
	SafeJSON struct {
		Token, Timestamp, Nonce, Signature, Body, Message string
		EncodingAESKey                                    string `json:"encodingAESKey"`
		AppID                                             string `json:"appid"`
		MsgSignature                                      string `json:"msg_signature"`
	} `json:"safe_json"`
	SafeJSONReply struct {
		Token          string
		EncodingAESKey string `json:"encodingAESKey"`
		AppID          string `json:"appid"`
		Message        string `json:"message"`
		Random         string `json:"random"`
		Encrypt        string
		TimeStamp      int64
		Nonce          string
		MsgSignature   string
	} `json:"safe_json_reply"`
}

func loadPushVectors(t testing.TB) pushVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "weixin_push", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v pushVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func at(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 0) } }

func TestVerifyURLVector(t *testing.T) {
	v := loadPushVectors(t).URLCheck
	ver := &Verifier{Token: v.Token, MaxSkew: time.Minute, Now: at(2e9)} // an echo has no freshness check
	p := Params{Signature: v.Signature, Timestamp: v.Timestamp, Nonce: v.Nonce, EchoStr: v.Echostr}
	echo, err := ver.VerifyURL(p)
	if err != nil || echo != "4375120948345356249" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	bad := p
	bad.Nonce += "1"
	var e *Error
	if _, err := ver.VerifyURL(bad); !errors.As(err, &e) || e.Status != 401 || e.Check != CheckSignature {
		t.Fatalf("wrong signature: %v", err)
	}
	bad = p
	bad.EchoStr = ""
	if _, err := ver.VerifyURL(bad); !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("no echostr: %v", err)
	}
}

func TestOpenPlaintextVector(t *testing.T) {
	v := loadPushVectors(t).PlaintextJSON
	ver := &Verifier{Token: v.Token, MaxSkew: 5 * time.Minute, Now: at(1714037059 + 60)}
	m, err := ver.Open(Params{Signature: v.Signature, Timestamp: v.Timestamp, Nonce: v.Nonce}, []byte(v.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"toUserName":"gh_97417a04a28d","fromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","createTime":1714037059,"msgType":"event","event":"debug_demo","debugStr":"hello world"}`
	if string(m.JSON) != want {
		t.Fatalf("JSON\n got %s\nwant %s", m.JSON, want)
	}
	if m.MsgType != "event" || m.Event != "debug_demo" || m.Format != JSON || m.Encrypted || !strings.HasPrefix(m.ID, "evt-") || len(m.ID) != 36 {
		t.Fatalf("message %+v", m)
	}
}

func TestOpenSafeVector(t *testing.T) {
	v := loadPushVectors(t).SafeJSON
	if got := signing.OASignature(v.Token, v.Timestamp, v.Nonce); got != v.Signature {
		t.Fatalf("the URL's signature: %s", got)
	}
	ver := &Verifier{Token: v.Token, EncodingAESKey: v.EncodingAESKey, AppID: v.AppID, MaxSkew: 5 * time.Minute, Now: at(1714112445)}
	p := Params{Signature: v.Signature, Timestamp: v.Timestamp, Nonce: v.Nonce, EncryptType: "aes", MsgSignature: v.MsgSignature}
	m, err := ver.Open(p, []byte(v.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"toUserName":"gh_97417a04a28d","fromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","createTime":1714112445,"msgType":"event","event":"debug_demo","debugStr":"hello world"}`
	if string(m.JSON) != want || !m.Encrypted {
		t.Fatalf("JSON\n got %s\nwant %s", m.JSON, want)
	}
	// The same message in plaintext mode gets the same id.
	plain := &Verifier{Token: v.Token, Now: at(1714112445)}
	pm, err := plain.Open(Params{Signature: v.Signature, Timestamp: v.Timestamp, Nonce: v.Nonce}, []byte(v.Message))
	if err != nil || pm.ID != m.ID {
		t.Fatalf("plaintext copy: %v, id %s vs %s", err, pm.ID, m.ID)
	}
	// Another appid is refused.
	other := *ver
	other.AppID = "wx0000000000000000"
	var e *Error
	if _, err := other.Open(p, []byte(v.Body)); !errors.As(err, &e) || e.Check != CheckAppID || e.Status != 401 {
		t.Fatalf("other appid: %v", err)
	}
}

func TestReplyVector(t *testing.T) {
	v := loadPushVectors(t).SafeJSONReply
	msg, appID, err := signing.DecryptOAMessage(v.EncodingAESKey, v.Encrypt)
	if err != nil || string(msg) != v.Message || appID != v.AppID {
		t.Fatalf("decrypt: %q %q %v", msg, appID, err)
	}
	if got := signing.OASignature(v.Token, strconv.FormatInt(v.TimeStamp, 10), v.Nonce, v.Encrypt); got != v.MsgSignature {
		t.Fatalf("MsgSignature %s", got)
	}
	// Seal gives the documented envelope's shape, signed the same way.
	ver := &Verifier{Token: v.Token, EncodingAESKey: v.EncodingAESKey, AppID: v.AppID}
	env, err := ver.Seal(JSON, []byte(v.Message), v.TimeStamp, v.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Encrypt, MsgSignature, Nonce string
		TimeStamp                    int64
	}
	if err := json.Unmarshal(env, &got); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	if got.TimeStamp != v.TimeStamp || got.Nonce != v.Nonce || got.MsgSignature != signing.OASignature(v.Token, "1713424427", v.Nonce, got.Encrypt) {
		t.Fatalf("envelope %s", env)
	}
	if msg, appID, err := signing.DecryptOAMessage(v.EncodingAESKey, got.Encrypt); err != nil || string(msg) != v.Message || appID != v.AppID {
		t.Fatalf("sealed reply does not decrypt: %v", err)
	}
}

// TestOpenSpamtestVector: Tencent's WXBizMsgCrypt sample, XML in safe mode.
func TestOpenSpamtestVector(t *testing.T) {
	var all struct {
		OAPush struct {
			Token, Timestamp, Nonce, Encrypt string
			EncodingAESKey                   string `json:"encodingAESKey"`
			AppID                            string `json:"appid"`
			MsgSignature                     string `json:"msg_signature"`
		} `json:"oa_push"`
	}
	if err := json.Unmarshal(vectors.Read(t, "vectors.json"), &all); err != nil {
		t.Fatal(err)
	}
	v := all.OAPush
	ver := &Verifier{Token: v.Token, EncodingAESKey: v.EncodingAESKey, AppID: v.AppID}
	body := "<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[" + v.Encrypt + "]]></Encrypt></xml>"
	m, err := ver.Open(Params{Timestamp: v.Timestamp, Nonce: v.Nonce, EncryptType: "aes", MsgSignature: v.MsgSignature}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != XML || m.MsgType == "" || m.ToUserName == "" {
		t.Fatalf("message %+v %s", m, m.JSON)
	}
	var fields map[string]any
	if err := json.Unmarshal(m.JSON, &fields); err != nil || fields["msgType"] != m.MsgType {
		t.Fatalf("JSON %s: %v", m.JSON, err)
	}
}

func TestPushKey(t *testing.T) {
	cases := map[string]string{
		"ToUserName": "toUserName", "MsgId": "msgId", "MsgID": "msgID", "OutTradeNo": "outTradeNo",
		"WeChatPayInfo": "weChatPayInfo", "WXAppId": "wxAppId", "URL": "url", "trace_id": "traceId",
		"debug_str": "debugStr", "Location_X": "locationX", "Location_Y": "locationY", "errcode": "errCode",
		"errmsg": "errMsg", "appid": "appid", "version": "version", "detail": "detail", "Encrypt": "encrypt",
		"_id": "_id", "a_0": "a_0", "": "", "ErrCode": "errCode", "HQMusicUrl": "hqMusicUrl",
	}
	for in, want := range cases {
		if got := pushKey(in); got != want {
			t.Errorf("pushKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func plainVerifier() *Verifier { return &Verifier{Token: "T", Now: at(1700000000)} }

func plainParams() Params {
	return Params{Timestamp: "1700000000", Nonce: "n1", Signature: signing.OASignature("T", "1700000000", "n1")}
}

func TestXMLMessage(t *testing.T) {
	body := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>
<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[123]]></Content>
<MsgId>7234567890123456789</MsgId><Location_X>23.134521</Location_X><Scale>20</Scale><Label> x </Label>
<Info><Item><Id>1</Id></Item><Item><Id>2</Id></Item></Info><Precision>abc</Precision></xml>`
	m, err := plainVerifier().Open(plainParams(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"toUserName":"gh_1","fromUserName":"o1","createTime":1700000000,"msgType":"text","content":"123",` +
		`"msgId":7234567890123456789,"locationX":23.134521,"scale":20,"label":"x",` +
		`"info":{"item":[{"id":"1"},{"id":"2"}]},"precision":"abc"}`
	if string(m.JSON) != want {
		t.Fatalf("JSON\n got %s\nwant %s", m.JSON, want)
	}
	if m.ID != "7234567890123456789" || m.Format != XML {
		t.Fatalf("id %s", m.ID)
	}
}

func TestJSONMessageKeepsNumbers(t *testing.T) {
	body := `{"ToUserName":"gh_1","MsgType":"event","Event":"wxa_media_check","MsgId":7234567890123456789,` +
		`"trace_id":"t1","version":2,"detail":[{"strategy":"content_model","errcode":0,"prob":90.5}],"result":{"suggest":"pass","label":100},"ok":true,"none":null}`
	m, err := plainVerifier().Open(plainParams(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"toUserName":"gh_1","msgType":"event","event":"wxa_media_check","msgId":7234567890123456789,` +
		`"traceId":"t1","version":2,"detail":[{"strategy":"content_model","errCode":0,"prob":90.5}],"result":{"suggest":"pass","label":100},"ok":true,"none":null}`
	if string(m.JSON) != want || m.ID != "7234567890123456789" {
		t.Fatalf("JSON\n got %s\nwant %s (id %s)", m.JSON, want, m.ID)
	}
}

// seal makes an encrypted push of msg as WeChat sends it.
func seal(t testing.TB, v *Verifier, f Format, msg, plaintextCopy string, ts int64, nonce string) (Params, []byte) {
	t.Helper()
	enc, err := signing.EncryptOAMessage(v.EncodingAESKey, v.AppID, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	tss := strconv.FormatInt(ts, 10)
	p := Params{Timestamp: tss, Nonce: nonce, EncryptType: "aes", MsgSignature: signing.OASignature(v.Token, tss, nonce, enc),
		Signature: signing.OASignature(v.Token, tss, nonce)}
	if f == JSON {
		b, _ := json.Marshal(map[string]string{"ToUserName": "gh_1", "Encrypt": enc})
		if plaintextCopy != "" {
			b = []byte(strings.TrimSuffix(plaintextCopy, "}") + `,"Encrypt":"` + enc + `"}`)
		}
		return p, b
	}
	return p, []byte("<xml><ToUserName><![CDATA[gh_1]]></ToUserName>" + plaintextCopy + "<Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
}

const testKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

func aesVerifier() *Verifier {
	return &Verifier{Token: "T", EncodingAESKey: testKey, AppID: "wx0123456789abcdef", MaxSkew: 5 * time.Minute, Now: at(1700000000)}
}

func TestMessageIDStable(t *testing.T) {
	v := aesVerifier()
	msg := `{"ToUserName":"gh_1","MsgType":"event","Event":"wxa_media_check","trace_id":"t1"}`
	p1, b1 := seal(t, v, JSON, msg, "", 1700000000, "n1")
	p2, b2 := seal(t, v, JSON, msg, "", 1700000010, "n2")
	m1, err1 := v.Open(p1, b1)
	m2, err2 := v.Open(p2, b2)
	if err1 != nil || err2 != nil || m1.ID != m2.ID || !strings.HasPrefix(m1.ID, "evt-") {
		t.Fatalf("ids %v %v: %v %v", m1, m2, err1, err2)
	}
	p3, b3 := seal(t, v, JSON, strings.Replace(msg, "t1", "t2", 1), "", 1700000000, "n1")
	if m3, err := v.Open(p3, b3); err != nil || m3.ID == m1.ID {
		t.Fatalf("a different message, the same id: %v", err)
	}
}

func TestCompatibleModeIgnoresPlaintextCopy(t *testing.T) {
	v := aesVerifier()
	for _, f := range []Format{XML, JSON} {
		msg := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[real]]></Content></xml>`
		forged := `<FromUserName><![CDATA[o_forged]]></FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[forged]]></Content>`
		if f == JSON {
			msg = `{"ToUserName":"gh_1","MsgType":"text","Content":"real"}`
			forged = `{"ToUserName":"gh_1","FromUserName":"o_forged","MsgType":"text","Content":"forged"}`
		}
		p, body := seal(t, v, f, msg, forged, 1700000000, "n1")
		m, err := v.Open(p, body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(string(m.JSON), "forged") || !strings.Contains(string(m.JSON), `"content":"real"`) {
			t.Fatalf("%s: the unsigned copy was used: %s", f, m.JSON)
		}
	}
}

func TestOpenRefusals(t *testing.T) {
	v := aesVerifier()
	msg := `{"ToUserName":"gh_1","MsgType":"text","Content":"hi"}`
	good, body := seal(t, v, JSON, msg, "", 1700000000, "n1")
	plain := plainVerifier()
	withMsgSig := func(p Params, enc string) Params {
		p.MsgSignature = signing.OASignature("T", p.Timestamp, p.Nonce, enc)
		return p
	}
	// sealed is a push of m encrypted for appID, signed at ts.
	type pb struct {
		p    Params
		body string
	}
	sealed := func(m, appID string, ts int64) pb {
		e, _ := signing.EncryptOAMessage(testKey, appID, []byte(m))
		tss := strconv.FormatInt(ts, 10)
		return pb{Params{Timestamp: tss, Nonce: "n1", EncryptType: "aes", MsgSignature: signing.OASignature("T", tss, "n1", e)}, `{"Encrypt":"` + e + `"}`}
	}
	otherApp := sealed(msg, "wxffffffffffffffff", 1700000000)
	stale := sealed(msg, v.AppID, 1700000000-301)
	unreadable := sealed("not a message", v.AppID, 1700000000)
	innerDTD := sealed(`<!DOCTYPE a><xml/>`, v.AppID, 1700000000)
	noMsgType := sealed(`{"ToUserName":"gh_1"}`, v.AppID, 1700000000)
	cases := []struct {
		name   string
		v      *Verifier
		p      Params
		body   string
		status int
		check  string
	}{
		{"no timestamp", v, Params{Nonce: "n", EncryptType: "aes", MsgSignature: "x"}, string(body), 400, CheckParams},
		{"no nonce", v, Params{Timestamp: "1700000000", EncryptType: "aes", MsgSignature: "x"}, string(body), 400, CheckParams},
		{"timestamp not integer", v, Params{Timestamp: "17e8", Nonce: "n", EncryptType: "aes", MsgSignature: "x"}, string(body), 400, CheckParams},
		{"no msg_signature", v, Params{Timestamp: "1700000000", Nonce: "n1", EncryptType: "aes"}, string(body), 400, CheckParams},
		{"neither XML nor JSON", v, good, "hello", 400, CheckFormat},
		{"DOCTYPE outer", v, good, `<!DOCTYPE x><xml><Encrypt>a</Encrypt></xml>`, 400, CheckDTD},
		{"no Encrypt", v, good, `{"ToUserName":"gh_1"}`, 400, CheckEncrypt},
		{"no Encrypt XML", v, good, `<xml><ToUserName>gh_1</ToUserName></xml>`, 400, CheckEncrypt},
		{"wrong msg_signature", v, withMsgSig(good, "other"), string(body), 401, CheckMsgSignature},
		{"plaintext on aes route", v, plainParams(), msg, 401, CheckPlaintext},
		{"aes on plaintext route", plain, good, string(body), 401, CheckEncryptType},
		{"wrong signature", plain, Params{Timestamp: "1700000000", Nonce: "n1", Signature: strings.Repeat("0", 40)}, msg, 401, CheckSignature},
		{"no signature", plain, Params{Timestamp: "1700000000", Nonce: "n1"}, msg, 401, CheckSignature},
		{"does not decrypt", v, withMsgSig(good, "QUJD"), `{"Encrypt":"QUJD"}`, 401, CheckDecrypt},
		{"not base64", v, withMsgSig(good, "@@@@"), `{"Encrypt":"@@@@"}`, 401, CheckDecrypt},
		{"other appid", v, otherApp.p, otherApp.body, 401, CheckAppID},
		{"stale", v, stale.p, stale.body, 401, CheckTimestamp},
		{"decrypted unreadable", v, unreadable.p, unreadable.body, 400, CheckMessage},
		{"decrypted DOCTYPE", v, innerDTD.p, innerDTD.body, 400, CheckDTD},
		{"no MsgType", v, noMsgType.p, noMsgType.body, 400, CheckMsgType},
		{"plaintext DOCTYPE", plain, plainParams(), `<!DOCTYPE a [<!ENTITY b "c">]><xml><MsgType>&b;</MsgType></xml>`, 400, CheckDTD},
		{"plaintext no MsgType", plain, plainParams(), `<xml><ToUserName>gh</ToUserName></xml>`, 400, CheckMsgType},
		{"plaintext JSON array", plain, plainParams(), `[1]`, 400, CheckFormat},
	}
	for _, c := range cases {
		m, err := c.v.Open(c.p, []byte(c.body))
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status || e.Check != c.check || m != nil {
			t.Errorf("%s: %v (%+v), want %d %s", c.name, err, e, c.status, c.check)
			continue
		}
		for _, secret := range []string{testKey, "hello", "Content"} {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("%s: error %q mentions %q", c.name, e.Error(), secret)
			}
		}
	}
}

func TestStaleTimestampSaysSkew(t *testing.T) {
	v := aesVerifier()
	p, body := seal(t, v, JSON, `{"MsgType":"event","Event":"xpay_goods_deliver_notify"}`, "", 1700000000-3600, "n1")
	_, err := v.Open(p, body)
	var e *Error
	if !errors.As(err, &e) || e.Skew != time.Hour || !strings.Contains(e.Error(), "1h0m0s") || !strings.Contains(e.Error(), "max_skew 5m0s") {
		t.Fatalf("%v", err)
	}
	v.MaxSkew = 0 // no freshness check
	if _, err := v.Open(p, body); err != nil {
		t.Fatal(err)
	}
}

func TestWritePushKeyAgrees(t *testing.T) {
	for _, k := range []string{"ToUserName", "WXAppId", "URL", "Location_X", "trace_id", "a\"b", "errcode", "MsgID", "_id", "a__b", "A_", "Ab_c_"} {
		var b bytes.Buffer
		writePushKey(&b, k)
		var got string
		if err := json.Unmarshal(b.Bytes(), &got); err != nil || got != pushKey(k) {
			t.Errorf("%q: wrote %s, pushKey %q", k, b.Bytes(), pushKey(k))
		}
	}
}

// A virtual-payment event WeChat retries carries RetryTimes counted up: it
// is the same event and must keep its id (dedupe answers it without a second
// delivery); another order is another event.
func TestMessageIDIgnoresRetryTimes(t *testing.T) {
	v := aesVerifier()
	msg := `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1700000000,"MsgType":"event","Event":"xpay_goods_deliver_notify","OutTradeNo":"T1","RetryTimes":0}`
	open := func(m string, ts int64) *Message {
		t.Helper()
		p, b := seal(t, v, JSON, m, "", ts, "n")
		got, err := v.Open(p, b)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := open(msg, 1700000000)
	retry := open(strings.Replace(msg, `"RetryTimes":0`, `"RetryTimes":3`, 1), 1700000100)
	if first.ID != retry.ID {
		t.Fatalf("a retry got another id: %s vs %s", first.ID, retry.ID)
	}
	other := open(strings.Replace(msg, "T1", "T2", 1), 1700000000)
	if other.ID == first.ID {
		t.Fatal("another order got the same id")
	}
	xmlMsg := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[xpay_refund_notify]]></Event><WxRefundId><![CDATA[R1]]></WxRefundId><RetryTimes>1</RetryTimes></xml>`
	p1, b1 := seal(t, v, XML, xmlMsg, "", 1700000000, "n")
	p2, b2 := seal(t, v, XML, strings.Replace(xmlMsg, "<RetryTimes>1<", "<RetryTimes>2<", 1), "", 1700000000, "n")
	x1, err1 := v.Open(p1, b1)
	x2, err2 := v.Open(p2, b2)
	if err1 != nil || err2 != nil || x1.ID != x2.ID {
		t.Fatalf("XML retry ids %v %v: %v %v", x1, x2, err1, err2)
	}
}

// A MsgId of zeros is the id "0", never an empty one (an empty id would be
// the whole account's dedupe folder).
func TestMessageIDZero(t *testing.T) {
	v := aesVerifier()
	p, b := seal(t, v, JSON, `{"ToUserName":"gh_1","MsgType":"text","Content":"x","MsgId":"000"}`, "", 1700000000, "n")
	m, err := v.Open(p, b)
	if err != nil || m.ID != "0" {
		t.Fatalf("id %q: %v", m.ID, err)
	}
}
