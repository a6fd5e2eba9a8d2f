package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// WeixinMessagePush is a test app's message server (消息推送): where the
// emulator sends that app's pushes, and how WeChat would sign them.
type WeixinMessagePush struct {
	// AppID is the test mini-program or official account.
	AppID string `json:"appid,omitempty"`
	// URL is the message server, typically the gateway's unicloud_message_notify route.
	URL string `json:"url,omitempty"`
	// Token is the console's Token.
	Token string `json:"token,omitempty"`
	// EncodingAESKey is the console's EncodingAESKey; empty for plaintext mode.
	EncodingAESKey string `json:"encoding_aes_key,omitempty"`
	// Mode is plaintext, compatible or safe (default: safe with a key, else plaintext).
	Mode string `json:"mode,omitempty"`
	// Format is xml or json (default json).
	Format string `json:"format,omitempty"`
}

// Validate checks a push target's mode and format.
func (p WeixinMessagePush) Validate() error {
	switch p.mode() {
	case "plaintext":
	case "compatible", "safe":
		if len(p.EncodingAESKey) != 43 {
			return fmt.Errorf("weixin_message_push %s: mode %s needs a 43-character encoding_aes_key", p.AppID, p.mode())
		}
	default:
		return fmt.Errorf("weixin_message_push %s: mode %q is not plaintext, compatible or safe", p.AppID, p.Mode)
	}
	if f := p.format(); f != "json" && f != "xml" {
		return fmt.Errorf("weixin_message_push %s: format %q is not xml or json", p.AppID, p.Format)
	}
	if p.Token == "" || p.URL == "" {
		return fmt.Errorf("weixin_message_push %s: a URL and a token are required", p.AppID)
	}
	return nil
}

func (p WeixinMessagePush) mode() string {
	if p.Mode != "" {
		return p.Mode
	}
	if p.EncodingAESKey != "" {
		return "safe"
	}
	return "plaintext"
}

func (p WeixinMessagePush) format() string {
	if p.Format != "" {
		return p.Format
	}
	return "json"
}

// PushResult is what a push's target answered (the JSON of POST
// /_emulator/weixin/push).
type PushResult struct {
	ErrCode int    `json:"errCode"`
	ErrMsg  string `json:"errMsg"`
	AppID   string `json:"-"`
	// Message is the message as sent (before encryption).
	Message []byte `json:"-"`
	Status  int    `json:"status"`
	Body    string `json:"body"`
	// Reply is the decrypted reply, for an encrypted answer.
	Reply string `json:"reply,omitempty"`
	// TraceID is the trace_id of a check result the emulator pushed by
	// itself (after mediaCheckAsync).
	TraceID string `json:"traceId,omitempty"`
}

// pushes is the emulator's message-push sender (a provider with one hook).
type pushes struct {
	s      *Server
	client *http.Client

	mu      sync.Mutex
	onPush  []func(PushResult)
	pending sync.WaitGroup
	// async are the check results pushed by the emulator itself, by
	// trace_id; asyncOrder bounds them (oldest first).
	async      map[string]*asyncPush
	asyncOrder []string
}

func init() {
	registerProvider("weixin_push", func(s *Server) provider {
		return &pushes{s: s, client: &http.Client{
			Timeout: 10 * time.Second,
			// Pushes follow no redirect, as WeChat's.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	})
}

func (s *Server) pushes() *pushes { return s.providers["weixin_push"].(*pushes) }

func (p *pushes) routes() map[string]http.HandlerFunc { return nil }

func (p *pushes) hooks() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{"/_emulator/weixin/push": p.pushHook, "/_emulator/weixin/pushes": p.pushesHook}
}

// target is the push target of appid.
func (s *Server) pushTarget(appid string) (WeixinMessagePush, bool) {
	for _, t := range s.cfg.WeixinMessagePushes {
		if t.AppID == appid {
			return t, true
		}
	}
	return WeixinMessagePush{}, false
}

// pushHook is POST /_emulator/weixin/push?appid=: the body is the message
// as WeChat spells it; it is sent to the app's target as WeChat would.
func (p *pushes) pushHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(43002, "require POST method"))
		return
	}
	appid := r.URL.Query().Get("appid")
	if _, ok := p.s.pushTarget(appid); !ok {
		writeJSON(w, http.StatusNotFound, errBody(40013, "no weixin_message_push for appid "+appid))
		return
	}
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	d.UseNumber()
	var msg map[string]any
	if err := d.Decode(&msg); err != nil || msg == nil {
		writeJSON(w, http.StatusBadRequest, errBody(47001, "data format error: want the message as a JSON object"))
		return
	}
	res, err := p.s.SendWeixinPush(r.Context(), appid, msg)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, errBody(-1, err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// SendWeixinPush sends msg (WeChat's spelling; ToUserName, FromUserName and
// CreateTime filled in when absent) to appid's push target, signed and
// encrypted per its mode and format, and returns what the target answered.
func (s *Server) SendWeixinPush(ctx context.Context, appid string, msg map[string]any) (PushResult, error) {
	t, ok := s.pushTarget(appid)
	if !ok {
		return PushResult{}, fmt.Errorf("no weixin_message_push for appid %s", appid)
	}
	if err := t.Validate(); err != nil {
		return PushResult{}, err
	}
	now := s.now().Unix()
	if _, ok := msg["ToUserName"]; !ok {
		msg["ToUserName"] = "gh_" + appid[len(appid)-min(len(appid), 12):]
	}
	if _, ok := msg["FromUserName"]; !ok {
		msg["FromUserName"] = "o_emulator_user"
	}
	if _, ok := msg["CreateTime"]; !ok {
		msg["CreateTime"] = now
	}
	format := t.format()
	plain, err := encodePush(format, msg)
	if err != nil {
		return PushResult{}, err
	}
	ts := strconv.FormatInt(now, 10)
	var nb [4]byte
	_, _ = rand.Read(nb[:])
	nonce := strconv.FormatUint(uint64(binary.BigEndian.Uint32(nb[:])), 10)
	q := make([]string, 0, 6)
	q = append(q, "signature="+signing.OASignature(t.Token, ts, nonce), "timestamp="+ts, "nonce="+nonce, "openid="+fmt.Sprint(msg["FromUserName"]))
	body := plain
	mode := t.mode()
	if mode != "plaintext" {
		enc, err := signing.EncryptOAMessage(t.EncodingAESKey, appid, plain)
		if err != nil {
			return PushResult{}, err
		}
		q = append(q, "encrypt_type=aes", "msg_signature="+signing.OASignature(t.Token, ts, nonce, enc))
		body = envelopeBody(format, mode, msg, plain, enc)
	}
	u := t.URL
	if strings.Contains(u, "?") {
		u += "&"
	} else {
		u += "?"
	}
	u += strings.Join(q, "&")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return PushResult{}, err
	}
	if format == "xml" {
		req.Header.Set("Content-Type", "text/xml")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.pushes().client.Do(req)
	if err != nil {
		return PushResult{}, fmt.Errorf("push to %s: %w", t.URL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res := PushResult{ErrMsg: "ok", AppID: appid, Message: plain, Status: resp.StatusCode, Body: string(answer)}
	if mode != "plaintext" {
		res.Reply = openReply(t, appid, format, answer)
	}
	return res, nil
}

// envelopeBody is the encrypted push's body: safe mode carries ToUserName
// and Encrypt only, compatible mode the plaintext fields too.
func envelopeBody(format, mode string, msg map[string]any, plain []byte, enc string) []byte {
	if format == "json" {
		env := map[string]any{"ToUserName": msg["ToUserName"], "Encrypt": enc}
		if mode == "compatible" {
			for k, v := range msg {
				env[k] = v
			}
			env["Encrypt"] = enc
		}
		b, _ := json.Marshal(env)
		return b
	}
	var b bytes.Buffer
	if mode == "compatible" {
		b.Write(bytes.TrimSuffix(plain, []byte("</xml>")))
	} else {
		b.WriteString("<xml><ToUserName>")
		writeCDATA(&b, fmt.Sprint(msg["ToUserName"]))
		b.WriteString("</ToUserName>")
	}
	b.WriteString("<Encrypt>")
	writeCDATA(&b, enc)
	b.WriteString("</Encrypt></xml>")
	return b.Bytes()
}

// openReply decrypts an encrypted reply envelope after checking its
// MsgSignature; "" when the answer is not one.
func openReply(t WeixinMessagePush, appid, format string, answer []byte) string {
	var env struct {
		Encrypt, MsgSignature, Nonce string
		TimeStamp                    json.Number
	}
	var ts string
	if format == "json" {
		if json.Unmarshal(answer, &env) != nil {
			return ""
		}
		ts = env.TimeStamp.String()
	} else {
		var x struct {
			Encrypt, MsgSignature, TimeStamp, Nonce string
		}
		if xml.Unmarshal(answer, &x) != nil {
			return ""
		}
		env.Encrypt, env.MsgSignature, env.Nonce, ts = x.Encrypt, x.MsgSignature, x.Nonce, x.TimeStamp
	}
	if env.Encrypt == "" || !signing.EqualHex(env.MsgSignature, signing.OASignature(t.Token, ts, env.Nonce, env.Encrypt)) {
		return ""
	}
	plain, id, err := signing.DecryptOAMessage(t.EncodingAESKey, env.Encrypt)
	if err != nil || id != appid {
		return ""
	}
	return string(plain)
}

// encodePush writes the message as WeChat does: JSON, or XML with strings
// in CDATA, numbers as text, objects nested and arrays as repeated elements.
func encodePush(format string, msg map[string]any) ([]byte, error) {
	if format == "json" {
		return json.Marshal(msg)
	}
	var b bytes.Buffer
	b.WriteString("<xml>")
	if err := writeXMLFields(&b, msg); err != nil {
		return nil, err
	}
	b.WriteString("</xml>")
	return b.Bytes(), nil
}

// pushFieldOrder puts the envelope fields first, as WeChat does.
var pushFieldOrder = map[string]int{"ToUserName": 1, "FromUserName": 2, "CreateTime": 3, "MsgType": 4, "Event": 5}

func writeXMLFields(b *bytes.Buffer, m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		oi, oj := pushFieldOrder[keys[i]], pushFieldOrder[keys[j]]
		if oi == 0 {
			oi = 100
		}
		if oj == 0 {
			oj = 100
		}
		if oi != oj {
			return oi < oj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		vals := []any{m[k]}
		if arr, ok := m[k].([]any); ok {
			vals = arr
		}
		for _, v := range vals {
			b.WriteString("<" + k + ">")
			switch v := v.(type) {
			case string:
				writeCDATA(b, v)
			case map[string]any:
				if err := writeXMLFields(b, v); err != nil {
					return err
				}
			case nil:
			default:
				fmt.Fprint(b, v)
			}
			b.WriteString("</" + k + ">")
		}
	}
	return nil
}

func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>")
}
