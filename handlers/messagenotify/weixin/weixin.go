// Package weixin is the WeChat provider of unicloud_message_notify: the
// guest module unicloud.message_notify.providers.weixin, which verifies and
// answers WeChat message pushes (消息推送) with providers/weixin/push.
package weixin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/messagenotify"
	"github.com/caddy-unicloud/unicloud/providers/weixin/push"
)

func init() {
	caddy.RegisterModule(Weixin{})
}

// DefaultMaxSkew is how far a push's timestamp may be from now by default.
const DefaultMaxSkew = 5 * time.Minute

// Weixin verifies the pushes of one mini-program's or official account's
// message server (消息推送): plaintext, compatible and safe mode, XML and
// JSON. Secrets are best given as placeholders ({env.*}, {file.*}).
type Weixin struct {
	// Token is the console's Token (required): it signs every push.
	Token string `json:"token,omitempty"`
	// EncodingAESKey is the console's EncodingAESKey (43 characters), for
	// compatible and safe mode. With it, unencrypted pushes are refused.
	EncodingAESKey string `json:"encoding_aes_key,omitempty"`
	// AppID is the mini-program's or official account's appid: required
	// with encoding_aes_key, the decrypted receiver id must equal it. It
	// also scopes the dedupe records.
	AppID string `json:"app_id,omitempty"`
	// MaxSkew is how far a push's timestamp may be from now, either way
	// (default 5m; negative: no freshness check). WeChat's retries keep the
	// first attempt's timestamp: widen it if retries are refused as stale.
	MaxSkew caddy.Duration `json:"max_skew,omitempty"`

	verifier *push.Verifier
	now      func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Weixin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "unicloud.message_notify.providers.weixin",
		New: func() caddy.Module { return new(Weixin) },
	}
}

// Provision replaces placeholders and applies defaults.
func (w *Weixin) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	for _, s := range []*string{&w.Token, &w.EncodingAESKey, &w.AppID} {
		*s = repl.ReplaceAll(*s, "")
	}
	if w.MaxSkew == 0 {
		w.MaxSkew = caddy.Duration(DefaultMaxSkew)
	}
	w.verifier = &push.Verifier{
		Token: w.Token, EncodingAESKey: w.EncodingAESKey, AppID: w.AppID,
		MaxSkew: time.Duration(w.MaxSkew), Now: w.now,
	}
	return nil
}

// Validate refuses a configuration that cannot verify pushes.
func (w *Weixin) Validate() error {
	if w.Token == "" {
		return errors.New("weixin: token is required (the message server's Token)")
	}
	if w.EncodingAESKey != "" {
		if len(w.EncodingAESKey) != 43 {
			return fmt.Errorf("weixin: encoding_aes_key is %d characters, want the console's 43", len(w.EncodingAESKey))
		}
		if k, err := base64.StdEncoding.DecodeString(w.EncodingAESKey + "="); err != nil || len(k) != 32 {
			return errors.New("weixin: encoding_aes_key is not the console's base64 EncodingAESKey (43 characters decoding to 32 bytes)")
		}
		if w.AppID == "" {
			return errors.New("weixin: encoding_aes_key needs app_id (the decrypted receiver id must equal it)")
		}
	}
	return nil
}

// Name is "weixin".
func (w *Weixin) Name() string { return "weixin" }

// DedupeScope is the appid, or a hash of the token.
func (w *Weixin) DedupeScope() string {
	if w.AppID != "" {
		return w.AppID
	}
	sum := sha256.Sum256([]byte(w.Token))
	return "t-" + hex.EncodeToString(sum[:8])
}

// VerifyURL answers WeChat's URL check.
func (w *Weixin) VerifyURL(r *http.Request) (string, error) {
	echo, err := w.verifier.VerifyURL(push.ParamsFrom(r.URL.Query()))
	return echo, w.refusal(err)
}

// Open verifies a push.
func (w *Weixin) Open(r *http.Request, body []byte) (messagenotify.Message, error) {
	m, err := w.verifier.Open(push.ParamsFrom(r.URL.Query()), body)
	if err != nil {
		return nil, w.refusal(err)
	}
	return &message{m: m, w: w}, nil
}

func (w *Weixin) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// refusal adds the skew and max_skew to a stale push's log line.
func (w *Weixin) refusal(err error) error {
	var e *push.Error
	if !errors.As(err, &e) {
		return err
	}
	return refusal{e, time.Duration(w.MaxSkew)}
}

type refusal struct {
	e       *push.Error
	maxSkew time.Duration
}

func (r refusal) Error() string       { return r.e.Error() }
func (r refusal) NotifyCheck() string { return r.e.Check }
func (r refusal) HTTPStatus() int     { return r.e.Status }
func (r refusal) Unwrap() error       { return r.e }

// LogFields are the skew and max_skew of a stale push.
func (r refusal) LogFields() []zap.Field {
	if r.e.Check != push.CheckTimestamp {
		return nil
	}
	return []zap.Field{zap.Duration("skew", r.e.Skew), zap.Duration("max_skew", r.maxSkew)}
}

// message is a verified push for the host.
type message struct {
	m *push.Message
	w *Weixin
}

func (m *message) ID() string    { return m.m.ID }
func (m *message) Type() string  { return m.m.MsgType }
func (m *message) Event() string { return m.m.Event }
func (m *message) JSON() []byte  { return m.m.JSON }

func (m *message) Respond(backend []byte) (messagenotify.Answer, error) {
	a, err := m.w.verifier.Respond(m.m, backend, m.w.clock().Unix())
	if err != nil {
		return messagenotify.Answer{}, err
	}
	return messagenotify.Answer{Status: a.Status, ContentType: a.ContentType, Body: a.Body}, nil
}

func (m *message) Fail() messagenotify.Answer {
	a := push.Fail(m.m)
	return messagenotify.Answer{Status: a.Status, ContentType: a.ContentType, Body: a.Body}
}

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_message_notify weixin {
//		token            <token>
//		encoding_aes_key <43 characters>
//		app_id           <appid>
//		max_skew         <duration>|0     # 0: no freshness check
//	}
func (w *Weixin) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		dir := d.Val()
		v, err := handlers.OneArg(d)
		if err != nil {
			return err
		}
		switch dir {
		case "token":
			w.Token = v
		case "encoding_aes_key":
			w.EncodingAESKey = v
		case "app_id":
			w.AppID = v
		case "max_skew":
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur < 0 {
				return d.Errf("max_skew: %q is not a duration", v)
			}
			if dur == 0 {
				dur = -1 // explicitly off
			}
			w.MaxSkew = caddy.Duration(dur)
		default:
			return d.Errf("unknown subdirective %q of unicloud_message_notify weixin", dir)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner      = (*Weixin)(nil)
	_ caddy.Validator        = (*Weixin)(nil)
	_ caddyfile.Unmarshaler  = (*Weixin)(nil)
	_ messagenotify.Provider = (*Weixin)(nil)
	_ messagenotify.Message  = (*message)(nil)
	_ messagenotify.Refusal  = refusal{}
)
