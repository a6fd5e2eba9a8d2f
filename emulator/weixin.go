package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

func init() { registerProvider("weixin", newWeixin) }

// weixin emulates api.weixin.qq.com: tokens, code2Session and the catalog.
type weixin struct {
	s *Server

	mu        sync.Mutex
	tokens    map[string]*wxToken     // token → its state
	current   map[tokenSlot]string    // the token an endpoint hands out now
	issues    map[string]*TokenIssues // appid → token answers
	sessions  map[string]wxSession    // appid+"\x00"+openid → session
	usedCodes map[string]time.Time    // appid+"\x00"+js_code → when code2Session took it
	media     map[string]*wxMedia     // media_id → upload
	msgid     int64
	tickets   wxTickets // JS-SDK tickets (weixin_ticket.go)
	oauth     wxOAuth   // user tokens of web authorization and open-platform login (weixin_oauth.go)
}

type tokenKind int

const (
	classicKind tokenKind = iota // GET /cgi-bin/token
	stableKind                   // POST /cgi-bin/stable_token
)

// tokenSlot is one token endpoint of one app: WeChat keeps the classic and
// the stable token of an app apart ("互相隔离，互不影响").
type tokenSlot struct {
	appid string
	kind  tokenKind
}

type wxToken struct {
	appid   string
	expires time.Time
	retires time.Time // when a replaced token stops working; zero while current
}

type wxSession struct {
	sessionKey string
	unionid    string
}

type wxMedia struct {
	appid       string
	contentType string
	filename    string
	data        []byte
	created     time.Time
}

// Limits that keep a long-running emulator's memory bounded.
const (
	maxSessions  = 10000
	maxUsedCodes = 100000
	maxMedia     = 256
	mediaTTL     = 3 * 24 * time.Hour // temporary media live three days on WeChat
	maxJSONBody  = 2 << 20
	maxMediaSize = 10 << 20
)

func newWeixin(s *Server) provider {
	return &weixin{
		s:         s,
		tokens:    map[string]*wxToken{},
		current:   map[tokenSlot]string{},
		issues:    map[string]*TokenIssues{},
		sessions:  map[string]wxSession{},
		usedCodes: map[string]time.Time{},
		media:     map[string]*wxMedia{},
		msgid:     1_000_000_000_000_000,
	}
}

func (s *Server) weixin() *weixin { return s.providers["weixin"].(*weixin) }

// audience says which apps' tokens may call a route.
type audience int

const (
	public          audience = iota // no access_token (token endpoints, jscode2session)
	miniProgram                     // a mini-program's token
	officialAccount                 // an official account's token
	anyApp                          // either
)

type bodyKind int

const (
	noBody   bodyKind = iota
	jsonBody          // a JSON object, parsed into wxCall.body
	fileBody          // multipart, read by the handler
)

// wxRoute is one row of the WeChat catalog the emulator answers.
type wxRoute struct {
	post     bool // POST only (43002 otherwise); false accepts any method
	audience audience
	body     bodyKind
	handle   func(c *wxCall)
}

// wxCall is one request to a WeChat route.
type wxCall struct {
	w     http.ResponseWriter
	r     *http.Request
	appid string         // the access token's app
	body  map[string]any // jsonBody routes
}

func (c *wxCall) ok(fields map[string]any)  { writeJSON(c.w, http.StatusOK, okBody(fields)) }
func (c *wxCall) fail(code int, msg string) { writeJSON(c.w, http.StatusOK, errBody(code, msg)) }

// str is a string parameter of the JSON body (numbers accepted as text).
func (c *wxCall) str(key string) string { return str(c.body, key) }

func str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func (x *weixin) table() map[string]wxRoute {
	t := map[string]wxRoute{
		"/cgi-bin/token":            {handle: x.classicToken},
		"/cgi-bin/stable_token":     {post: true, handle: x.stableToken},
		"/sns/jscode2session":       {handle: x.code2Session},
		"/sns/oauth2/access_token":  {handle: x.oauthAccessToken},
		"/sns/oauth2/refresh_token": {handle: x.oauthRefresh},
		"/sns/userinfo":             {handle: x.oauthUserInfo},
		"/wxa/getpaidunionid":       {audience: miniProgram, handle: x.getPaidUnionID},

		"/cgi-bin/media/get":             {audience: anyApp, handle: x.mediaGet},
		"/cgi-bin/media/upload":          {post: true, audience: anyApp, body: fileBody, handle: x.mediaUpload},
		"/cgi-bin/message/custom/send":   {post: true, audience: anyApp, body: jsonBody, handle: x.customSend},
		"/cgi-bin/message/custom/typing": {post: true, audience: anyApp, body: jsonBody, handle: x.customTyping},

		"/cgi-bin/wxaapp/createwxaqrcode": {post: true, audience: miniProgram, body: jsonBody, handle: x.wxacode(qrcodeKind)},
		"/wxa/getwxacode":                 {post: true, audience: miniProgram, body: jsonBody, handle: x.wxacode(wxacodeKind)},
		"/wxa/getwxacodeunlimit":          {post: true, audience: miniProgram, body: jsonBody, handle: x.wxacode(unlimitedKind)},

		"/cv/img/aicrop":          {post: true, audience: anyApp, body: fileBody, handle: x.imgAICrop},
		"/cv/img/qrcode":          {post: true, audience: anyApp, body: fileBody, handle: x.imgQRCode},
		"/cv/img/superresolution": {post: true, audience: anyApp, body: fileBody, handle: x.imgSuperresolution},

		"/wxa/business/getuserphonenumber": {post: true, audience: miniProgram, body: jsonBody, handle: x.getUserPhoneNumber},
		"/wxa/generatescheme":              {post: true, audience: miniProgram, body: jsonBody, handle: x.generateScheme},
		"/wxa/generate_urllink":            {post: true, audience: miniProgram, body: jsonBody, handle: x.generateURLLink},
		"/wxa/msg_sec_check":               {post: true, audience: miniProgram, body: jsonBody, handle: x.msgSecCheck},
		"/wxa/img_sec_check":               {post: true, audience: miniProgram, body: fileBody, handle: x.imgSecCheck},
		"/wxa/media_check_async":           {post: true, audience: miniProgram, body: jsonBody, handle: x.mediaCheckAsync},

		"/cgi-bin/message/subscribe/send":               {post: true, audience: miniProgram, body: jsonBody, handle: x.subscribeSend},
		"/cgi-bin/message/wxopen/template/uniform_send": {post: true, audience: miniProgram, body: jsonBody, handle: x.uniformSend},
		"/cgi-bin/message/template/send":                {post: true, audience: officialAccount, body: jsonBody, handle: x.templateSend},
		"/cgi-bin/ticket/getticket":                     {audience: officialAccount, handle: x.getTicket},
		"/wxa/business/getliveinfo":                     {post: true, audience: miniProgram, body: jsonBody, handle: x.getLiveInfo},
	}
	for name, gen := range datacubeAPIs {
		t["/datacube/getweanalysisappid"+name] = wxRoute{post: true, audience: miniProgram, body: jsonBody, handle: x.datacube(gen)}
	}
	return t
}

func (x *weixin) routes() map[string]http.HandlerFunc {
	out := map[string]http.HandlerFunc{}
	for path, rt := range x.table() {
		out[path] = func(w http.ResponseWriter, r *http.Request) { x.serve(rt, w, r) }
	}
	return out
}

func (x *weixin) serve(rt wxRoute, w http.ResponseWriter, r *http.Request) {
	c := &wxCall{w: w, r: r}
	if rt.post && r.Method != http.MethodPost {
		c.fail(43002, "require POST method")
		return
	}
	if rt.audience != public {
		appid, code, msg := x.authorize(r.URL.Query().Get("access_token"))
		if code != 0 {
			c.fail(code, msg)
			return
		}
		isOA := x.isOfficialAccount(appid)
		if (rt.audience == miniProgram && isOA) || (rt.audience == officialAccount && !isOA) {
			c.fail(48001, "api unauthorized")
			return
		}
		c.appid = appid
	}
	if rt.body == jsonBody {
		c.body = map[string]any{} // an empty body is an empty object
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
		dec.UseNumber()
		if err := dec.Decode(&c.body); (err != nil && err != io.EOF) || c.body == nil {
			c.fail(47001, "data format error")
			return
		}
	}
	rt.handle(c)
}

// secretOf returns an app's AppSecret, and whether the appid is configured.
func (x *weixin) secretOf(appid string) (string, bool) {
	if sec, ok := x.s.cfg.WeixinApps[appid]; ok {
		return sec, true
	}
	if sec, ok := x.s.cfg.WeixinOpenApps[appid]; ok {
		return sec, true
	}
	sec, ok := x.s.cfg.WeixinOfficialAccounts[appid]
	return sec, ok
}

func (x *weixin) isOfficialAccount(appid string) bool {
	_, ok := x.s.cfg.WeixinOfficialAccounts[appid]
	return ok
}

// checkApp validates appid and secret as WeChat's credential endpoints do.
func (x *weixin) checkApp(appid, secret string) (code int, msg string) {
	switch {
	case appid == "":
		return 41002, "appid missing"
	case secret == "":
		return 41004, "appsecret missing"
	}
	want, ok := x.secretOf(appid)
	switch {
	case !ok:
		return 40013, "invalid appid"
	case subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1:
		return 40125, "invalid appsecret, view more at http://t.cn/RAEkdVq"
	}
	return 0, ""
}

// classicToken is GET /cgi-bin/token: every call makes a new token; the
// previous one keeps working for the grace period only.
func (x *weixin) classicToken(c *wxCall) {
	q := c.r.URL.Query()
	if q.Get("grant_type") != "client_credential" {
		c.fail(40002, "invalid grant_type")
		return
	}
	appid := q.Get("appid")
	if code, msg := x.checkApp(appid, q.Get("secret")); code != 0 {
		c.fail(code, msg)
		return
	}
	tok, ttl := x.issue(tokenSlot{appid, classicKind}, true)
	writeJSON(c.w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": ttl})
}

// stableToken is POST /cgi-bin/stable_token: the current token while it is
// valid, with what is left of its life; force_refresh makes a new one and
// the previous one keeps working for the grace period.
func (x *weixin) stableToken(c *wxCall) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	// WeChat types these fields strictly: a string force_refresh is an error.
	if json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxJSONBody)).Decode(&req) != nil {
		c.fail(47001, "data format error")
		return
	}
	if req.GrantType != "client_credential" {
		c.fail(40002, "invalid grant_type")
		return
	}
	if code, msg := x.checkApp(req.AppID, req.Secret); code != 0 {
		c.fail(code, msg)
		return
	}
	tok, ttl := x.issue(tokenSlot{req.AppID, stableKind}, req.ForceRefresh)
	writeJSON(c.w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": ttl})
}

// issue hands out slot's token, making a new one when asked to or when the
// current one is gone, and counts the answer.
func (x *weixin) issue(slot tokenSlot, fresh bool) (token string, expiresIn int64) {
	now := x.s.now()
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.issues[slot.appid]
	if n == nil {
		n = &TokenIssues{}
		x.issues[slot.appid] = n
	}
	if slot.kind == stableKind {
		n.Stable++
	} else {
		n.Classic++
	}
	ttl := time.Duration(x.s.cfg.TokenTTL)
	cur, ok := x.tokens[x.current[slot]]
	// As WeChat's stable_token does, a call in the token's last minutes
	// (5, or a fifth of a shorter life) gets the next token, the current
	// one working on until it expires.
	renew := ok && !fresh && slot.kind == stableKind && cur.expires.Sub(now) <= min(5*time.Minute, ttl/5)
	if ok && !fresh && !renew && now.Before(cur.expires) {
		// Whole seconds left, rounded down: never promise a second the
		// token does not have.
		return x.current[slot], int64(cur.expires.Sub(now) / time.Second)
	}
	x.prune(now)
	if ok && !renew {
		cur.retires = now.Add(time.Duration(x.s.cfg.TokenGrace))
	}
	token = newAccessToken()
	x.tokens[token] = &wxToken{appid: slot.appid, expires: now.Add(ttl)}
	x.current[slot] = token
	return token, ceilSeconds(ttl)
}

func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// prune forgets replaced tokens past their grace (they answer 40001 either
// way) and tokens expired for longer than a TTL; x.mu is held.
func (x *weixin) prune(now time.Time) {
	ttl := time.Duration(x.s.cfg.TokenTTL)
	for tok, t := range x.tokens {
		if (!t.retires.IsZero() && !now.Before(t.retires)) || now.Sub(t.expires) > ttl {
			delete(x.tokens, tok)
		}
	}
}

// authorize checks an access_token as WeChat does and returns its appid.
func (x *weixin) authorize(token string) (appid string, code int, msg string) {
	if token == "" {
		return "", 41001, "access_token missing"
	}
	now := x.s.now()
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.tokens[token]
	switch {
	case !ok, !t.retires.IsZero() && !now.Before(t.retires):
		return "", 40001, "invalid credential, access_token is invalid or not latest"
	case !now.Before(t.expires):
		return "", 42001, "access_token expired"
	}
	return t.appid, 0, ""
}

// RevokeTokens invalidates every token of appid at once (the next call
// with one gets 40001) and makes the token endpoints issue new ones, as
// when someone else refreshed the app's token. Also POST
// /_emulator/weixin/revoke_tokens?appid=.
func (s *Server) RevokeTokens(appid string) {
	x := s.weixin()
	x.mu.Lock()
	defer x.mu.Unlock()
	for tok, t := range x.tokens {
		if t.appid == appid {
			delete(x.tokens, tok)
		}
	}
	for slot := range x.current {
		if slot.appid == appid {
			delete(x.current, slot)
		}
	}
}

// ExpireTokens makes every token of appid expire now (the next call with
// one gets 42001; the token endpoints issue new ones). Also POST
// /_emulator/weixin/expire_tokens?appid=.
func (s *Server) ExpireTokens(appid string) {
	x := s.weixin()
	now := s.now()
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range x.tokens {
		if t.appid == appid && now.Before(t.expires) {
			t.expires = now
		}
	}
}

func (x *weixin) tokenIssues() map[string]TokenIssues {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]TokenIssues, len(x.issues))
	for appid, n := range x.issues {
		out[appid] = *n
	}
	return out
}

// newAccessToken looks like WeChat's: a version prefix and ~136 URL-safe
// characters.
func newAccessToken() string { return "86_" + randomB64URL(100) }

// randomB64URL is n random bytes, base64url without padding.
func randomB64URL(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// userID derives a stable 28-character WeChat-style id (openid, unionid)
// from its parts.
func userID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "o" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:27]
}

// digest is a stable pseudo-random number derived from parts, for
// plausible data that does not change between calls.
func digest(parts ...string) uint64 {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var n uint64
	for _, b := range h.Sum(nil)[:8] {
		n = n<<8 | uint64(b)
	}
	return n
}

// hooks are the WeChat test hooks (see RevokeTokens, ExpireTokens and
// EncryptedPhoneData).
func (x *weixin) hooks() map[string]http.HandlerFunc {
	appHook := func(f func(appid string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				writeJSON(w, http.StatusMethodNotAllowed, errBody(43002, "require POST method"))
				return
			}
			appid := r.URL.Query().Get("appid")
			if _, ok := x.secretOf(appid); !ok {
				writeJSON(w, http.StatusNotFound, errBody(40013, "invalid appid"))
				return
			}
			f(appid)
			writeJSON(w, http.StatusOK, okBody(nil))
		}
	}
	return map[string]http.HandlerFunc{
		"/_emulator/weixin/revoke_tokens":      appHook(x.s.RevokeTokens),
		"/_emulator/weixin/expire_tokens":      appHook(x.s.ExpireTokens),
		"/_emulator/weixin/phone":              x.phoneHook,
		"/_emulator/weixin/jsapi_ticket":       x.ticketHook,
		"/_emulator/weixin/expire_user_tokens": appHook(x.s.ExpireUserTokens),
	}
}

// nextMsgID numbers sent messages.
func (x *weixin) nextMsgID() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.msgid += 1 + int64(digest(strconv.FormatInt(x.msgid, 10))%1000)
	return x.msgid
}
