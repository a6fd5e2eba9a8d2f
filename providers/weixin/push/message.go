package push

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/caddy-unicloud/unicloud/providers/internal/wxxml"
	"github.com/tidwall/gjson"
)

// value is a JSON value that keeps its members' order and its numbers'
// digits.
type value struct {
	kind byte // 's' string, 'n' number (literal in s), 't' true, 'f' false, 'z' null, 'o' object, 'a' array
	s    string
	obj  []member
	arr  []value
}

type member struct {
	key string
	val value
}

func (v *value) get(key string) *value {
	for i := range v.obj {
		if v.obj[i].key == key {
			return &v.obj[i].val
		}
	}
	return nil
}

// str is a string member's value, or a number's digits.
func (v *value) str(key string) string {
	if m := v.get(key); m != nil && (m.kind == 's' || m.kind == 'n') {
		return m.s
	}
	return ""
}

// parseMessage reads a message (plaintext body or decrypted) into a
// Message. check names the refusal for an unreadable message.
//
// A decrypted message (encrypted) is a buffer Open made and never changes:
// the message's strings share it instead of copying it.
func parseMessage(b []byte, encrypted bool, check string) (*Message, error) {
	f, ok := detect(b)
	if !ok {
		return nil, refuse(check, 400, "message is neither XML nor JSON")
	}
	if f == XML {
		if encrypted {
			// The tree is only read here: it stays in the reader's scratch.
			var m *Message
			var refused error
			err := wxxml.VisitOwned(b, func(el *wxxml.Element) error {
				m, refused = xmlMessage(el, len(b), true)
				return nil
			})
			if err != nil {
				return nil, xmlRefusal(err, check)
			}
			return m, refused
		}
		el, err := wxxml.Parse(b)
		if err != nil {
			return nil, xmlRefusal(err, check)
		}
		return xmlMessage(el, len(b), false)
	}
	root, err := parseJSON(b)
	if err != nil || root.kind != 'o' {
		return nil, refuse(check, 400, "message is not a JSON object")
	}
	m := &Message{Format: f, Encrypted: encrypted}
	m.MsgType = root.str("MsgType")
	if m.MsgType == "" {
		return nil, refuse(CheckMsgType, 400, "no MsgType in the message")
	}
	m.Event = root.str("Event")
	m.ToUserName = root.str("ToUserName")
	m.FromUserName = root.str("FromUserName")

	var out bytes.Buffer
	out.Grow(len(b))
	writeJSON(&out, &root, camelKeys, true)
	m.JSON = out.Bytes()
	m.ID = messageID(&root, m.JSON)
	return m, nil
}

// messageID is the MsgId (or MsgID) in decimal, or "evt-" and a hash of the
// message's fields: the same message sent afresh (another nonce, timestamp
// and ciphertext) gets the same id, messages differing in a field do not.
func messageID(root *value, converted []byte) string {
	for _, k := range []string{"MsgId", "MsgID"} {
		if v := root.get(k); v != nil && (v.kind == 'n' || v.kind == 's') && isDecimal(v.s) {
			return decimalID(v.s)
		}
	}
	return eventID(converted)
}

// decimalID is a MsgId without leading zeros ("0" for zero).
func decimalID(s string) string {
	if id := strings.TrimLeft(s, "0"); id != "" {
		return id
	}
	return "0"
}

// eventID is the id of a push without a MsgId: a hash of its fields but
// the value of retryTimes, which WeChat counts up in each retry of a
// virtual-payment event (xpay_*_notify): a retry is the same event.
func eventID(converted []byte) string {
	h := sha256.New()
	if rt := gjson.GetBytes(converted, "retryTimes"); rt.Exists() && rt.Index > 0 {
		h.Write(converted[:rt.Index])
		h.Write(converted[rt.Index+len(rt.Raw):])
	} else {
		h.Write(converted)
	}
	var sum [sha256.Size]byte
	return "evt-" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

func isDecimal(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isNumber reports a decimal number: optional '-', digits, optional
// fraction (WeChat's coordinates are "23.134521").
func isNumber(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	if intPart == "" || (dot && frac == "") {
		return false
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return false // JSON has no leading zeros
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// maxJSONDepth bounds a JSON push's nesting.
const maxJSONDepth = 32

// parseJSON reads one JSON value, keeping member order and number digits.
func parseJSON(b []byte) (value, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := readJSON(d, 0)
	if err != nil {
		return value{}, err
	}
	if _, err := d.Token(); err != io.EOF {
		return value{}, errors.New("data after the JSON value")
	}
	return v, nil
}

func readJSON(d *json.Decoder, depth int) (value, error) {
	if depth > maxJSONDepth {
		return value{}, errors.New("JSON nested too deep")
	}
	tok, err := d.Token()
	if err != nil {
		return value{}, err
	}
	switch t := tok.(type) {
	case string:
		return value{kind: 's', s: t}, nil
	case json.Number:
		return value{kind: 'n', s: string(t)}, nil
	case bool:
		if t {
			return value{kind: 't'}, nil
		}
		return value{kind: 'f'}, nil
	case nil:
		return value{kind: 'z'}, nil
	case json.Delim:
		switch t {
		case '{':
			v := value{kind: 'o'}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return value{}, err
				}
				k, _ := kt.(string)
				mv, err := readJSON(d, depth+1)
				if err != nil {
					return value{}, err
				}
				v.obj = append(v.obj, member{key: k, val: mv})
			}
			_, err := d.Token()
			return v, err
		case '[':
			v := value{kind: 'a'}
			for d.More() {
				ev, err := readJSON(d, depth+1)
				if err != nil {
					return value{}, err
				}
				v.arr = append(v.arr, ev)
			}
			_, err := d.Token()
			return v, err
		}
	}
	return value{}, errors.New("unexpected JSON token")
}

// keyStyle is how writeJSON spells keys.
type keyStyle bool

const (
	camelKeys  keyStyle = false // the backend's camelCase (pushKey)
	pascalKeys keyStyle = true  // WeChat's reply keys (pascalKey)
)

// writeJSON writes v as JSON with keys converted per key (recursively);
// top-level Encrypt is left out when dropEncrypt. (A direct call per
// style, not a func value: the buffer stays on the caller's stack.)
func writeJSON(w *bytes.Buffer, v *value, key keyStyle, dropEncrypt bool) {
	switch v.kind {
	case 's':
		writeString(w, v.s)
	case 'n':
		w.WriteString(v.s)
	case 't':
		w.WriteString("true")
	case 'f':
		w.WriteString("false")
	case 'z':
		w.WriteString("null")
	case 'a':
		w.WriteByte('[')
		for i := range v.arr {
			if i > 0 {
				w.WriteByte(',')
			}
			writeJSON(w, &v.arr[i], key, false)
		}
		w.WriteByte(']')
	case 'o':
		w.WriteByte('{')
		first := true
		for i := range v.obj {
			m := &v.obj[i]
			if dropEncrypt && m.key == "Encrypt" {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			if key == pascalKeys {
				writePascalKey(w, m.key)
			} else {
				writePushKey(w, m.key)
			}
			w.WriteByte(':')
			writeJSON(w, &m.val, key, false)
		}
		w.WriteByte('}')
	}
}

// writeString writes a JSON string; "<", ">" and "&" stay as they are (the
// body is JSON for a backend, not HTML).
func writeString(w *bytes.Buffer, s string) {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.WriteString(s[start:i])
		switch c {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		default:
			w.WriteString(`\u00`)
			w.WriteByte("0123456789abcdef"[c>>4])
			w.WriteByte("0123456789abcdef"[c&0xf])
		}
		start = i + 1
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
}

// pushKey converts a push's key to the backend's camelCase: errcode and
// errmsg as everywhere (errCode, errMsg); the leading capitals lowered, the
// last of a run starting the next word (ToUserName → toUserName, WXAppId →
// wxAppId, URL → url); then snake_case joined (trace_id → traceId,
// Location_X → locationX). Lowercase keys without an underscore (appid,
// version) stay as they are.
func pushKey(k string) string {
	switch k {
	case "errcode":
		return "errCode"
	case "errmsg":
		return "errMsg"
	}
	if k == "" || (!isUpper(k[0]) && strings.IndexByte(k, '_') < 0) {
		return k
	}
	if !pushKeyChanges(k) {
		return k
	}
	b := []byte(k)
	n := 0
	for n < len(b) && isUpper(b[n]) {
		n++
	}
	lower := n
	if n > 1 && n < len(b) && isLower(b[n]) {
		lower = n - 1
	}
	for i := 0; i < lower; i++ {
		b[i] += 'a' - 'A'
	}
	out := b[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '_' && i > 0 && i+1 < len(b) && isAlnum(b[i-1]) && isLetter(b[i+1]) {
			next := b[i+1]
			if isLower(next) {
				next -= 'a' - 'A'
			}
			out = append(out, next)
			i++
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// writePushKey writes pushKey(k) as a JSON string, without allocating for
// keys that need no escaping.
func writePushKey(w *bytes.Buffer, k string) {
	if k == "" || !pushKeyChanges(k) || k == "errcode" || k == "errmsg" || needsEscape(k) {
		writeString(w, pushKey(k))
		return
	}
	w.WriteByte('"')
	n := 0
	for n < len(k) && isUpper(k[n]) {
		n++
	}
	lower := n
	if n > 1 && n < len(k) && isLower(k[n]) {
		lower = n - 1
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if i < lower {
			c += 'a' - 'A'
		} else if c == '_' && i > 0 && i+1 < len(k) && isAlnum(k[i-1]) && isLetter(k[i+1]) {
			c = k[i+1]
			if isLower(c) {
				c -= 'a' - 'A'
			}
			i++
		}
		w.WriteByte(c)
	}
	w.WriteByte('"')
}

// writePascalKey writes pascalKey(k) as a JSON string.
func writePascalKey(w *bytes.Buffer, k string) {
	if k == "" || !isLower(k[0]) || needsEscape(k) {
		writeString(w, pascalKey(k))
		return
	}
	w.WriteByte('"')
	w.WriteByte(k[0] - ('a' - 'A'))
	w.WriteString(k[1:])
	w.WriteByte('"')
}

func needsEscape(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// pushKeyChanges reports whether pushKey changes k (k starts with a
// capital or has an underscore): lowercase-led keys without an underscore
// cost nothing.
func pushKeyChanges(k string) bool {
	return isUpper(k[0]) || strings.IndexByte(k, '_') >= 0
}

// pascalKey is a reply key as WeChat spells it: the first letter raised
// (content → Content, mediaId → MediaId).
func pascalKey(k string) string {
	if strings.EqualFold(k, "hqMusicUrl") {
		return "HQMusicUrl" // WeChat's spelling in a music reply, not HqMusicUrl
	}
	if k == "" || !isLower(k[0]) {
		return k
	}
	return string(k[0]-('a'-'A')) + k[1:]
}

func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool  { return isLetter(c) || '0' <= c && c <= '9' }
