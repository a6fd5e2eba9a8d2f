package push

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/signing"
)

// AnswerKind says which row of WeChat's answers a backend answer took.
type AnswerKind string

// The answers a backend's 2xx can make.
const (
	// Ack: the backend answered nothing or "success".
	Ack AnswerKind = "ack"
	// Passive: a passive reply (a JSON object with msgType).
	Passive AnswerKind = "passive"
	// Verbatim: another JSON object, for a JSON push, sent as it is.
	Verbatim AnswerKind = "verbatim"
)

// Answer is what WeChat is sent back.
type Answer struct {
	Kind        AnswerKind
	Status      int
	ContentType string
	Body        []byte
}

// ErrBackendAnswer is returned by Respond for a 2xx answer WeChat cannot be
// given (text, HTML, XML, a JSON value that is not an object, or a JSON
// object without msgType for an XML push).
var ErrBackendAnswer = errors.New("weixin push: the backend's answer is neither empty, success, a passive reply nor (for a JSON push) a JSON object")

const (
	textPlain = "text/plain; charset=utf-8"
	appJSON   = "application/json; charset=utf-8"
	textXML   = "text/xml; charset=utf-8"
)

// xpayAck is what WeChat expects for a virtual-payment event in JSON format.
const xpayAck = `{"ErrCode":0,"ErrMsg":"success"}`

// Respond turns the backend's 2xx answer to m into WeChat's answer:
// "success" (or the xpay acknowledgement) for an empty body or "success",
// the passive reply for a JSON object with msgType, the object itself for
// another JSON object answering a JSON push. In compatible and safe mode the
// passive reply and the object are encrypted and signed (the
// acknowledgements never are). unix is the reply's CreateTime and the
// envelope's TimeStamp.
func (v *Verifier) Respond(m *Message, backend []byte, unix int64) (Answer, error) {
	body := bytes.TrimSpace(backend)
	if len(body) == 0 || string(body) == "success" {
		return v.ack(m), nil
	}
	if body[0] != '{' {
		return Answer{}, ErrBackendAnswer
	}
	obj, err := parseJSON(body)
	if err != nil || obj.kind != 'o' {
		return Answer{}, ErrBackendAnswer
	}
	var plain []byte
	kind := Passive
	if mt := obj.get("msgType"); mt != nil && mt.kind == 's' && mt.s != "" {
		plain = passiveReply(m, &obj, unix)
	} else {
		if m.Format != JSON {
			return Answer{}, ErrBackendAnswer
		}
		if m.Xpay() && isXpayAck(&obj) {
			return v.ack(m), nil
		}
		kind, plain = Verbatim, body
	}
	ct := textXML
	if m.Format == JSON {
		ct = appJSON
	}
	if !m.Encrypted {
		return Answer{Kind: kind, Status: 200, ContentType: ct, Body: plain}, nil
	}
	env, err := v.Seal(m.Format, plain, unix, randomNonce())
	if err != nil {
		return Answer{}, err
	}
	return Answer{Kind: kind, Status: 200, ContentType: ct, Body: env}, nil
}

func (v *Verifier) ack(m *Message) Answer {
	if m.Xpay() && m.Format == JSON {
		return Answer{Kind: Ack, Status: 200, ContentType: appJSON, Body: []byte(xpayAck)}
	}
	return Answer{Kind: Ack, Status: 200, ContentType: textPlain, Body: []byte("success")}
}

// Fail is the answer when the backend did not take m: 500, so that WeChat
// retries. A virtual-payment event gets the JSON refusal in either format
// (the acknowledgement, unlike it, is JSON only for JSON pushes).
func Fail(m *Message) Answer {
	if m != nil && m.Xpay() {
		return Answer{Status: 500, ContentType: appJSON, Body: []byte(`{"ErrCode":1,"ErrMsg":"backend failed"}`)}
	}
	return Answer{Status: 500, ContentType: textPlain, Body: []byte("fail")}
}

// isXpayAck: the backend wrote the acknowledgement itself ({"ErrCode":0…}
// or {"errCode":0…}, nothing else but ErrMsg); it is sent unencrypted.
func isXpayAck(obj *value) bool {
	code := false
	for _, mb := range obj.obj {
		switch mb.key {
		case "ErrCode", "errCode":
			code = mb.val.kind == 'n' && mb.val.s == "0"
		case "ErrMsg", "errMsg":
		default:
			return false
		}
	}
	return code
}

// passiveReply builds the reply in m's format: ToUserName, FromUserName,
// CreateTime and MsgType first (the first two swapped from the push, the
// backend's own values of these ignored), then the backend's other members,
// PascalCased.
func passiveReply(m *Message, obj *value, unix int64) []byte {
	rest := make([]member, 0, len(obj.obj))
	var msgType string
	for _, mb := range obj.obj {
		switch strings.ToLower(mb.key) {
		case "tousername", "fromusername", "createtime":
			continue
		case "msgtype":
			msgType = mb.val.s
			continue
		}
		rest = append(rest, mb)
	}
	head := []member{
		{"ToUserName", value{kind: 's', s: m.FromUserName}},
		{"FromUserName", value{kind: 's', s: m.ToUserName}},
		{"CreateTime", value{kind: 'n', s: strconv.FormatInt(unix, 10)}},
		{"MsgType", value{kind: 's', s: msgType}},
	}
	reply := value{kind: 'o', obj: append(head, rest...)}
	var b bytes.Buffer
	if m.Format == JSON {
		writeJSON(&b, &reply, pascalKeys, false)
	} else {
		b.WriteString("<xml>")
		writeXMLMembers(&b, reply.obj)
		b.WriteString("</xml>")
	}
	return b.Bytes()
}

// writeXMLMembers writes members as elements: strings in CDATA, numbers
// and booleans as text, objects nested, arrays as repeated <item>.
func writeXMLMembers(b *bytes.Buffer, obj []member) {
	for _, mb := range obj {
		name := xmlName(pascalKey(mb.key))
		b.WriteString("<" + name + ">")
		writeXMLValue(b, &mb.val)
		b.WriteString("</" + name + ">")
	}
}

func writeXMLValue(b *bytes.Buffer, v *value) {
	switch v.kind {
	case 's':
		writeCDATA(b, v.s)
	case 'n':
		b.WriteString(v.s)
	case 't':
		b.WriteString("true")
	case 'f':
		b.WriteString("false")
	case 'o':
		writeXMLMembers(b, v.obj)
	case 'a':
		for i := range v.arr {
			b.WriteString("<item>")
			writeXMLValue(b, &v.arr[i])
			b.WriteString("</item>")
		}
	}
}

// writeCDATA writes s in CDATA, splitting any "]]>" in it.
func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}

// xmlName keeps the characters an element name may have; a key that would
// make no name becomes "Item".
func xmlName(k string) string {
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		if isLetter(c) || c == '_' || (len(out) > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.')) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "Item"
	}
	return string(out)
}

// Seal encrypts a reply for compatible and safe mode and wraps it in
// WeChat's envelope: Encrypt, MsgSignature = sha1(sort(token, TimeStamp,
// Nonce, Encrypt)), TimeStamp, Nonce, as XML or JSON.
func (v *Verifier) Seal(f Format, plain []byte, unix int64, nonce string) ([]byte, error) {
	enc, err := signing.EncryptOAMessage(v.EncodingAESKey, v.AppID, plain)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(unix, 10)
	sig := signing.OASignature(v.Token, ts, nonce, enc)
	var b bytes.Buffer
	if f == JSON {
		b.WriteString(`{"Encrypt":`)
		writeString(&b, enc)
		b.WriteString(`,"MsgSignature":"` + sig + `","TimeStamp":` + ts + `,"Nonce":`)
		writeString(&b, nonce)
		b.WriteString("}")
	} else {
		b.WriteString("<xml><Encrypt>")
		writeCDATA(&b, enc)
		b.WriteString("</Encrypt><MsgSignature><![CDATA[" + sig + "]]></MsgSignature><TimeStamp>" + ts + "</TimeStamp><Nonce>")
		writeCDATA(&b, nonce)
		b.WriteString("</Nonce></xml>")
	}
	return b.Bytes(), nil
}

// randomNonce is a decimal nonce, as WeChat's own.
func randomNonce() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(r[:])), 10)
}
