// Package emulator is a local stand-in for the providers caddy-unicloud talks
// to (api.weixin.qq.com first), so tests and the offline example never touch the internet.
package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Config is the emulator's configuration: the test credentials it accepts
// and how its tokens behave. It is inlined in the unicloud_emulator handler.
type Config struct {
	// Test WeChat mini-programs: appid → AppSecret. Tokens, code2Session and
	// the mini-program APIs are answered for these appids only.
	WeixinApps map[string]string `json:"weixin_apps,omitempty"`

	// Test WeChat official accounts (公众号, used by the h5.* APIs):
	// appid → AppSecret. They get their own tokens; only their tokens may call
	// /cgi-bin/message/template/send, and they may not call mini-program APIs
	// (48001), as on WeChat.
	WeixinOfficialAccounts map[string]string `json:"weixin_official_accounts,omitempty"`

	// Test WeChat open-platform mobile and website apps (移动应用, 网站应用):
	// appid → AppSecret, for /sns/oauth2/* login.
	WeixinOpenApps map[string]string `json:"weixin_open_apps,omitempty"`

	// How long an access token lives. Default: 7200s, as WeChat.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`

	// How long a replaced token keeps working: after a new /cgi-bin/token
	// call, or a /cgi-bin/stable_token call with force_refresh, the previous
	// token of that app answers 40001 once this has passed. Default: 5m, as WeChat.
	TokenGrace caddy.Duration `json:"token_grace,omitempty"`

	// Added before every provider answer (not the /_emulator/ hooks), to
	// exercise timeouts. Default: none.
	Latency caddy.Duration `json:"latency,omitempty"`

	// Now is the emulator's clock; tests set it to move time. Default: time.Now.
	Now func() time.Time `json:"-"`

	// Test WeChat Pay merchants (APIv2) and Alipay applications, for the
	// payment endpoints (wxpay.go, alipay.go).
	WxpayMerchants []WxpayMerchant `json:"wxpay_merchants,omitempty"`
	AlipayApps     []AlipayApp     `json:"alipay_apps,omitempty"`
	// AlipayTestPKI, when set, is the directory of a test PKI with which
	// the Alipay gateway runs every app in certificate mode (alipay_pki.go).
	AlipayTestPKI string `json:"alipay_test_pki,omitempty"`

	// Test WeChat Pay APIv3 merchants (wxpay_v3.go).
	WxpayV3Merchants []WxpayV3Merchant `json:"wxpay_v3_merchants,omitempty"`

	// Message servers of the test apps, where pushes go (weixin_push.go).
	WeixinMessagePushes []WeixinMessagePush `json:"weixin_message_pushes,omitempty"`

	// Test mini-programs with virtual payment (/xpay/*, xpay.go); each
	// appid is one of WeixinApps.
	WeixinXpay []WeixinXpay `json:"weixin_xpay,omitempty"`

	// Record, when set, sees every provider request (not the /_emulator/
	// hooks) with its body (at most MaxRecordedBody bytes of it) before the
	// emulator answers it; it must not keep r past its return. A Recorder's
	// Record method fits. Go only.
	Record func(r *http.Request, body []byte) `json:"-"`

	// BadSignature, when set and true for a request, makes the emulator
	// sign its answer to it (WeChat Pay v2 and APIv3, Alipay) with a key
	// that is not the provider's, as a key mix-up or a changed answer
	// would look: a gateway must refuse it. Go only.
	BadSignature func(r *http.Request) bool `json:"-"`
}

// Defaults WeChat uses.
const (
	DefaultTokenTTL   = 7200 * time.Second
	DefaultTokenGrace = 5 * time.Minute
)

// Server answers like the emulated providers. It is a plain http.Handler,
// safe for concurrent use; New builds one.
//
// Test hooks, as Go methods and as JSON over HTTP (not counted as calls,
// no latency; docs/emulator.md shows each with curl):
//
//	GET  /_emulator/stats                          Stats
//	POST /_emulator/weixin/revoke_tokens?appid=    RevokeTokens
//	POST /_emulator/weixin/expire_tokens?appid=    ExpireTokens
//	GET  /_emulator/weixin/phone?appid=&openid=    EncryptedPhoneData for a user code2Session has seen
//	POST /_emulator/wxpay/pay?out_trade_no=        PayWxpayOrder (v2 or APIv3 order)
//	GET  /_emulator/wxpay/v3/platform?mchid=       WxpayV3Platform
//	POST /_emulator/wxpay/v3/rotate?mchid=&mode=   RotateWxpayV3
//	POST /_emulator/alipay/pay                     PayAlipayOrder, PayAlipayOrderString
//	GET  /_emulator/alipay/public_key?app_id=      AlipayPublicKey
//	POST /_emulator/weixin/push?appid=             SendWeixinPush
//	POST /_emulator/xpay/pay                       pays a wx.requestVirtualPayment order (xpay_pay.go)
type Server struct {
	cfg Config

	providers map[string]provider
	routes    map[string]http.HandlerFunc // exact path → handler
	prefixes  map[string]http.HandlerFunc // path prefix → handler (paths with ids: /v3/…/{id})
	hooks     map[string]http.HandlerFunc // /_emulator/ paths → handler

	mu    sync.Mutex
	calls map[string]int // provider path → calls
}

// A prefixRouter is a provider that also answers paths that carry an id
// (/v3/pay/transactions/id/{transaction_id}): every path under a prefix.
type prefixRouter interface {
	prefixRoutes() map[string]http.HandlerFunc
}

// A provider is one emulated service (weixin; wxpay and alipay may follow,
// each in its own file). It registers a constructor with registerProvider in
// its file's init(); New builds every provider once.
type provider interface {
	// routes are the exact paths the provider answers.
	routes() map[string]http.HandlerFunc
	// hooks are its test hooks, paths under /_emulator/.
	hooks() map[string]http.HandlerFunc
}

var providerCtors = map[string]func(*Server) provider{}

// registerProvider adds a provider constructor; call it from init().
func registerProvider(name string, ctor func(*Server) provider) {
	if _, dup := providerCtors[name]; dup {
		panic("emulator: provider " + name + " registered twice")
	}
	providerCtors[name] = ctor
}

// New returns an emulator for cfg, with its defaults applied.
func New(cfg Config) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = caddy.Duration(DefaultTokenTTL)
	}
	if cfg.TokenGrace <= 0 {
		cfg.TokenGrace = caddy.Duration(DefaultTokenGrace)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		providers: map[string]provider{},
		routes:    map[string]http.HandlerFunc{},
		prefixes:  map[string]http.HandlerFunc{},
		hooks:     map[string]http.HandlerFunc{},
		calls:     map[string]int{},
	}
	s.hooks["/_emulator/stats"] = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) }
	for name, ctor := range providerCtors {
		p := ctor(s)
		s.providers[name] = p
		mount(s.routes, p.routes(), name)
		mount(s.hooks, p.hooks(), name)
		if pr, ok := p.(prefixRouter); ok {
			mount(s.prefixes, pr.prefixRoutes(), name)
		}
	}
	return s
}

// now is the emulator's clock.
func (s *Server) now() time.Time { return s.cfg.Now() }

func mount(dst, src map[string]http.HandlerFunc, name string) {
	for path, h := range src {
		if _, dup := dst[path]; dup {
			panic("emulator: provider " + name + " mounts " + path + " twice")
		}
		dst[path] = h
	}
}

// ServeHTTP answers one provider call or test hook; an unknown path gets
// 404 and {"errcode":-1,...}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/_emulator/") {
		if h, ok := s.hooks[path]; ok {
			h(w, r)
			return
		}
		writeJSON(w, http.StatusNotFound, errBody(-1, "no such emulator hook: "+path))
		return
	}
	h, ok := s.routes[path]
	if !ok {
		for prefix, ph := range s.prefixes {
			if strings.HasPrefix(path, prefix) && len(path) > len(prefix) {
				h, ok = ph, true
				break
			}
		}
	}
	counted := path
	if !ok {
		// Unknown paths share one counter: their number is the caller's
		// to choose, memory is not.
		counted = UnknownPaths
	}
	s.mu.Lock()
	s.calls[counted]++
	s.mu.Unlock()
	if s.cfg.Record != nil {
		s.record(r)
	}
	if !s.sleep(r.Context()) {
		return
	}
	if ok {
		h(w, r)
		return
	}
	writeJSON(w, http.StatusNotFound, errBody(-1, "system error: no such API "+path))
}

// UnknownPaths is the key of Stats.Calls that counts calls of paths the
// emulator does not serve.
const UnknownPaths = "(unknown)"

// sleep waits the configured latency; false if the caller went away first.
func (s *Server) sleep(ctx context.Context) bool {
	if s.cfg.Latency <= 0 {
		return true
	}
	t := time.NewTimer(time.Duration(s.cfg.Latency))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats is a snapshot of what the emulator has been asked.
type Stats struct {
	// TokenIssues counts successful token answers (/cgi-bin/token and
	// /cgi-bin/stable_token, whether the token was new or not) per appid.
	TokenIssues map[string]TokenIssues `json:"token_issues"`
	// Calls counts requests per provider path, hooks excluded; unknown
	// paths are counted together under UnknownPaths.
	Calls map[string]int `json:"calls"`
}

// TokenIssues counts one appid's token answers by endpoint.
type TokenIssues struct {
	Stable  int `json:"stable"`  // POST /cgi-bin/stable_token
	Classic int `json:"classic"` // GET /cgi-bin/token
}

// Stats returns a snapshot of the counters (also GET /_emulator/stats).
func (s *Server) Stats() Stats {
	st := Stats{Calls: map[string]int{}}
	s.mu.Lock()
	for p, n := range s.calls {
		st.Calls[p] = n
	}
	s.mu.Unlock()
	st.TokenIssues = s.weixin().tokenIssues()
	return st
}

// errBody is WeChat's error answer; the message ends with a request id as
// WeChat's do.
func errBody(code int, msg string) map[string]any {
	return map[string]any{"errcode": code, "errmsg": msg + " rid: " + rid()}
}

// okBody adds WeChat's success errcode/errmsg to fields.
func okBody(fields map[string]any) map[string]any {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["errcode"] = 0
	fields["errmsg"] = "ok"
	return fields
}

// rid looks like WeChat's request ids: 8-8-8 hex.
func rid() string {
	b := make([]byte, 12)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:16] + "-" + h[16:]
}

// writeJSON answers v with the Content-Type WeChat uses.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}
