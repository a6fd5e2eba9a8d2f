// Package push verifies and decrypts WeChat message pushes (消息推送) sent
// to a mini-program's or an official account's message server, and builds
// the answers WeChat expects: the SDK side of unicloud_message_notify, with
// no Caddy in it.
package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/internal/wxxml"
	"github.com/caddy-unicloud/unicloud/signing"
)

// Format is a push's data format (数据格式), told by the body's first
// non-blank character.
type Format int

// The two formats.
const (
	XML Format = iota
	JSON
)

func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "xml"
}

// Params are the URL query parameters WeChat sends with a push or a URL
// check.
type Params struct {
	Signature    string // signature: sha1(sort(token, timestamp, nonce))
	Timestamp    string // timestamp
	Nonce        string // nonce
	EchoStr      string // echostr (URL check only)
	EncryptType  string // encrypt_type: "aes" in compatible and safe mode
	MsgSignature string // msg_signature: sha1(sort(token, timestamp, nonce, Encrypt))
}

// ParamsFrom reads Params from a URL query.
func ParamsFrom(q url.Values) Params {
	return Params{
		Signature: q.Get("signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce"),
		EchoStr: q.Get("echostr"), EncryptType: q.Get("encrypt_type"), MsgSignature: q.Get("msg_signature"),
	}
}

// The checks a refusal names (Error.Check).
const (
	CheckParams       = "params"        // timestamp / nonce / echostr / msg_signature missing, timestamp not an integer
	CheckSignature    = "signature"     // plaintext signature wrong
	CheckMsgSignature = "msg_signature" // msg_signature wrong
	CheckPlaintext    = "plaintext"     // unencrypted push on a route with an EncodingAESKey
	CheckEncryptType  = "encrypt_type"  // encrypt_type=aes on a route without one
	CheckFormat       = "format"        // body neither XML nor JSON, or unreadable
	CheckDTD          = "dtd"           // XML with a DOCTYPE or ENTITY declaration
	CheckEncrypt      = "encrypt"       // no Encrypt field
	CheckDecrypt      = "decrypt"       // Encrypt does not decrypt
	CheckAppID        = "appid"         // the receiver id is not the configured appid
	CheckMessage      = "message"       // the decrypted message is unreadable
	CheckMsgType      = "msg_type"      // no MsgType
	CheckTimestamp    = "timestamp"     // |now - timestamp| > MaxSkew
)

// Error is a refusal: the check that failed and the HTTP status to answer
// with (400 or 401). Its message never holds the token, the key or the
// body.
type Error struct {
	Check  string
	Status int
	// Skew is how far the timestamp was from now (CheckTimestamp only).
	Skew time.Duration
	msg  string
}

func (e *Error) Error() string { return "weixin push: " + e.msg }

// NotifyCheck names the failed check (the notify handlers' convention).
func (e *Error) NotifyCheck() string { return e.Check }

func refuse(check string, status int, format string, args ...any) *Error {
	return &Error{Check: check, Status: status, msg: fmt.Sprintf(format, args...)}
}

// Verifier checks the pushes of one message server configuration.
type Verifier struct {
	// Token is the console's Token.
	Token string
	// EncodingAESKey is the console's EncodingAESKey (43 characters), for
	// compatible and safe mode; empty for plaintext mode.
	EncodingAESKey string
	// AppID is the receiver id the decrypted messages must carry (and the
	// one encrypted replies carry).
	AppID string
	// MaxSkew is how far a push's timestamp may be from now, either way;
	// 0 or less: no freshness check.
	MaxSkew time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// VerifyURL checks WeChat's URL verification (GET with signature, timestamp,
// nonce, echostr) and returns the echostr to answer with. No freshness check
// applies: an echo grants nothing.
func (v *Verifier) VerifyURL(p Params) (string, error) {
	if p.Timestamp == "" || p.Nonce == "" || p.EchoStr == "" || p.Signature == "" {
		return "", refuse(CheckParams, 400, "URL check without signature, timestamp, nonce or echostr")
	}
	if !signing.EqualHex(signing.OASignature(v.Token, p.Timestamp, p.Nonce), p.Signature) {
		return "", refuse(CheckSignature, 401, "URL check signature does not match the token")
	}
	return p.EchoStr, nil
}

// Message is a verified push.
type Message struct {
	// Format is the push's data format; replies use it too.
	Format Format
	// Encrypted is true for compatible and safe mode: replies other than
	// the acknowledgements are encrypted.
	Encrypted bool
	// JSON is the message as the backend receives it: one JSON object,
	// camelCase keys, in the push's order.
	JSON []byte
	// ID is the MsgId (or MsgID) in decimal, or "evt-" and a hash of the
	// message's fields for a push without one.
	ID string
	// MsgType, Event, ToUserName and FromUserName are the push's fields.
	MsgType, Event, ToUserName, FromUserName string
}

// Xpay reports whether the message is a virtual-payment event, which WeChat
// wants acknowledged with {"ErrCode":0,"ErrMsg":"success"} in JSON format.
func (m *Message) Xpay() bool { return strings.HasPrefix(m.Event, "xpay_") }

// Open verifies a push (its query parameters and body), decrypts it in
// compatible and safe mode, and returns the message. Errors are *Error.
func (v *Verifier) Open(p Params, body []byte) (*Message, error) {
	if p.Timestamp == "" || p.Nonce == "" {
		return nil, refuse(CheckParams, 400, "push without timestamp or nonce")
	}
	ts, err := strconv.ParseInt(p.Timestamp, 10, 64)
	if err != nil {
		return nil, refuse(CheckParams, 400, "timestamp is not an integer")
	}
	aes := p.EncryptType == "aes"
	switch {
	case aes && v.EncodingAESKey == "":
		return nil, refuse(CheckEncryptType, 401, "encrypt_type=aes but the route has no encoding_aes_key: set it, or switch the console to plaintext mode")
	case !aes && v.EncodingAESKey != "":
		return nil, refuse(CheckPlaintext, 401, "unencrypted push on a route with encoding_aes_key: its body is not signed")
	case aes && p.MsgSignature == "":
		return nil, refuse(CheckParams, 400, "encrypt_type=aes without msg_signature")
	}
	if !aes {
		if !signing.EqualHex(signing.OASignature(v.Token, p.Timestamp, p.Nonce), p.Signature) {
			return nil, refuse(CheckSignature, 401, "signature does not match the token")
		}
		if err := v.fresh(ts); err != nil {
			return nil, err
		}
		return parseMessage(body, false, CheckFormat)
	}

	format, ok := detect(body)
	if !ok {
		return nil, refuse(CheckFormat, 400, "body is neither XML nor JSON")
	}
	encrypt, err := envelope(format, body)
	if err != nil {
		return nil, err
	}
	if !signing.EqualHex(signing.OASignature(v.Token, p.Timestamp, p.Nonce, encrypt), p.MsgSignature) {
		return nil, refuse(CheckMsgSignature, 401, "msg_signature does not match the token and Encrypt")
	}
	if err := v.fresh(ts); err != nil {
		return nil, err
	}
	msg, appID, err := signing.DecryptOAMessage(v.EncodingAESKey, encrypt)
	if err != nil {
		return nil, refuse(CheckDecrypt, 401, "Encrypt does not decrypt with encoding_aes_key")
	}
	if appID != v.AppID {
		return nil, refuse(CheckAppID, 401, "the decrypted receiver id %q is not app_id", printable(appID))
	}
	m, err := parseMessage(msg, true, CheckMessage)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// fresh checks the timestamp against MaxSkew.
func (v *Verifier) fresh(ts int64) error {
	if v.MaxSkew <= 0 {
		return nil
	}
	skew := v.now().Sub(time.Unix(ts, 0))
	if skew < -v.MaxSkew || skew > v.MaxSkew {
		e := refuse(CheckTimestamp, 401, "timestamp is %s off the gateway's clock, over max_skew %s (WeChat's retries keep their first timestamp: widen max_skew if retries are refused)",
			skew.Round(time.Second), v.MaxSkew)
		e.Skew = skew
		return e
	}
	return nil
}

// detect tells the format by the first non-blank byte.
func detect(b []byte) (Format, bool) {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '<':
			return XML, true
		case '{':
			return JSON, true
		}
		return 0, false
	}
	return 0, false
}

// envelope returns the Encrypt field of an encrypted push; the other fields
// (compatible mode's plaintext copy) are not signed and are ignored.
func envelope(f Format, body []byte) (string, error) {
	var enc string
	if f == XML {
		// The Encrypt text is used here only (signature, decryption):
		// it may share the body's memory.
		text, found, err := wxxml.LeafOwned(body, "Encrypt")
		if err != nil {
			return "", xmlRefusal(err, CheckFormat)
		}
		if !found {
			return "", refuse(CheckEncrypt, 400, "no Encrypt in the push")
		}
		enc = strings.TrimSpace(text)
	} else {
		var env struct {
			Encrypt *string `json:"Encrypt"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return "", refuse(CheckFormat, 400, "body is not a JSON object")
		}
		if env.Encrypt != nil {
			enc = *env.Encrypt
		}
	}
	if enc == "" {
		return "", refuse(CheckEncrypt, 400, "no Encrypt in the push")
	}
	return enc, nil
}

func xmlRefusal(err error, check string) *Error {
	if errors.Is(err, wxxml.ErrDTD) {
		return refuse(CheckDTD, 400, "XML with a DOCTYPE or ENTITY declaration")
	}
	return refuse(check, 400, "XML is not readable: %v", err)
}

// printable shortens an outside value for a message.
func printable(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// HTTPStatus is the status to answer the refused push with.
func (e *Error) HTTPStatus() int { return e.Status }
