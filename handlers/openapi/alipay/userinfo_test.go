package alipay

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf/alipaytest"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
	"github.com/caddy-unicloud/unicloud/signing"
)

// fakeGateway answers alipay.system.oauth.token and
// alipay.user.info.share in public-key mode, signed with the first Alipay
// test key. Tokens it issued are valid until expired.
type fakeGateway struct {
	t    *testing.T
	p    *alipaytest.PKI
	mu   sync.Mutex
	seq  int
	live map[string]bool // access tokens → still valid
	// expiresIn is the access token's life it answers.
	expiresIn int
	calls     []url.Values
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, form)
	method := form.Get("method")
	var member map[string]any
	switch method {
	case "alipay.system.oauth.token":
		code := form.Get("code")
		if form.Get("grant_type") == "refresh_token" {
			code = strings.TrimPrefix(form.Get("refresh_token"), "refresh-")
		}
		if code == "bad" {
			member = map[string]any{"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.code-invalid", "sub_msg": "授权码code无效"}
			break
		}
		g.seq++
		at := "authusrB-SECRET-" + string(rune('a'+g.seq))
		g.live[at] = true
		member = map[string]any{"user_id": "2088102150477652", "open_id": "074open-" + code, "access_token": at, "expires_in": g.expiresIn,
			"refresh_token": "refresh-" + code, "re_expires_in": 2592000, "auth_start": "2024-01-02 03:04:05"}
	case "alipay.user.info.share":
		tok := form.Get("auth_token")
		switch valid, known := g.live[tok]; {
		case !known:
			member = map[string]any{"code": "20001", "msg": "Insufficient Token Permissions", "sub_code": "aop.invalid-auth-token", "sub_msg": "无效的访问令牌"}
		case !valid:
			member = map[string]any{"code": "20001", "msg": "Insufficient Token Permissions", "sub_code": "aop.auth-token-time-out", "sub_msg": "访问令牌已过期"}
		default:
			member = map[string]any{"code": "10000", "msg": "Success", "user_id": "2088102150477652", "open_id": "074open-x",
				"nick_name": "支付宝用户", "avatar": "https://tfs.alipayobjects.com/images/partner/x", "gender": "F", "province": "浙江省", "city": "杭州市"}
		}
	}
	raw, _ := json.Marshal(member)
	sign, err := signing.AlipaySign(g.p.AlipayKeys[0], raw, "RSA2")
	if err != nil {
		g.t.Error(err)
	}
	key := strings.ReplaceAll(method, ".", "_") + "_response"
	io.WriteString(w, `{"`+key+`":`+string(raw)+`,"sign":"`+sign+`"}`)
}

// expireAll makes every issued token expired at Alipay.
func (g *fakeGateway) expireAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.live {
		g.live[k] = false
	}
}

func (g *fakeGateway) methods() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, f := range g.calls {
		m := f.Get("method")
		if f.Get("grant_type") == "refresh_token" {
			m += "/refresh"
		}
		out = append(out, m)
	}
	g.calls = nil
	return out
}

// publicKeyGuest provisions the guest in public-key mode against g.
func publicKeyGuest(t *testing.T, g *fakeGateway, edit func(*Alipay)) *Alipay {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	der, _ := x509.MarshalPKIXPublicKey(&g.p.AlipayKeys[0].PublicKey)
	a := &Alipay{AppID: "2021", PrivateKey: g.p.AppKeyPEM, KeyType: "PKCS1", AlipayPublicKey: base64.StdEncoding.EncodeToString(der), Endpoint: srv.URL + "/gateway.do"}
	if edit != nil {
		edit(a)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Cleanup() })
	return a
}

// call serves api with a JSON body; a *handlers.Error is returned as err.
func call(t *testing.T, a *Alipay, api, body string) (map[string]any, error) {
	t.Helper()
	w := httptest.NewRecorder()
	_, err := a.Serve(context.Background(), w, httptest.NewRequest("POST", "/"+api, strings.NewReader(body)), api)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: %v %s", api, err, w.Body.String())
	}
	return m, nil
}

func wantError(t *testing.T, name string, err error, status int, code, msg string) {
	t.Helper()
	var ge *handlers.Error
	if !errors.As(err, &ge) || ge.Status != status || ge.Code != code || !strings.Contains(ge.Msg, msg) {
		t.Errorf("%s: %v, want %d %s %q", name, err, status, code, msg)
	}
}

// code2Session keeps the auth token: the answer holds neither token, and
// getUserInfo with the openid answers the member camelCased. No kept
// token is a 400 before any call.
func TestUserInfoWithKeptToken(t *testing.T) {
	g := &fakeGateway{t: t, p: alipaytest.New(t), live: map[string]bool{}, expiresIn: 3600}
	a := publicKeyGuest(t, g, nil)
	m, err := call(t, a, apiCode2Session, `{"code":"u1"}`)
	if err != nil || m["openid"] != "074open-u1" || num(m["expiresIn"]) != 3600 || m["authStart"] == nil {
		t.Fatalf("code2Session: %v %v", m, err)
	}
	for _, k := range []string{"accessToken", "refreshToken", "reExpiresIn"} {
		if _, ok := m[k]; ok {
			t.Errorf("code2Session answered %s: %v", k, m)
		}
	}
	u, err := call(t, a, apiGetUserInfo, `{"openid":"074open-u1"}`)
	if err != nil || num(u["errCode"]) != 0 || u["nickName"] != "支付宝用户" || u["city"] != "杭州市" || u["openid"] != "074open-x" || u["userId"] != "2088102150477652" {
		t.Fatalf("getUserInfo: %v %v", u, err)
	}
	if b, _ := json.Marshal(u); strings.Contains(string(b), "SECRET") {
		t.Errorf("a token in the answer: %s", b)
	}
	g.methods()
	_, err = call(t, a, apiGetUserInfo, `{"openid":"074open-nobody"}`)
	wantError(t, "no token", err, 400, handlers.ErrBadRequest, "call auth.code2Session first")
	_, err = call(t, a, apiGetUserInfo, `{}`)
	wantError(t, "no openid", err, 400, handlers.ErrBadRequest, "openid")
	if calls := g.methods(); len(calls) != 0 {
		t.Errorf("calls without a token: %v", calls)
	}
	if m, err := call(t, a, apiCode2Session, `{"code":"bad"}`); err != nil || m["errCode"] != "isv.code-invalid" {
		t.Errorf("bad code: %v %v", m, err)
	}
}

// A token past its expires_in is refreshed once before use; one Alipay
// says expired is refreshed once and the call retried; a refused refresh
// drops the record.
func TestUserInfoRefresh(t *testing.T) {
	g := &fakeGateway{t: t, p: alipaytest.New(t), live: map[string]bool{}, expiresIn: 1}
	a := publicKeyGuest(t, g, nil)
	if _, err := call(t, a, apiCode2Session, `{"code":"r1"}`); err != nil {
		t.Fatal(err)
	}
	g.methods()
	// expires_in 1s is within the store's margin: refreshed before use.
	if u, err := call(t, a, apiGetUserInfo, `{"openid":"074open-r1"}`); err != nil || u["nickName"] == nil {
		t.Fatalf("getUserInfo: %v %v", u, err)
	}
	if got := strings.Join(g.methods(), " "); got != "alipay.system.oauth.token/refresh alipay.user.info.share" {
		t.Errorf("calls %s", got)
	}

	g2 := &fakeGateway{t: t, p: alipaytest.New(t), live: map[string]bool{}, expiresIn: 3600}
	b := publicKeyGuest(t, g2, nil)
	if _, err := call(t, b, apiCode2Session, `{"code":"r2"}`); err != nil {
		t.Fatal(err)
	}
	g2.expireAll()
	g2.methods()
	if u, err := call(t, b, apiGetUserInfo, `{"openid":"074open-r2"}`); err != nil || u["nickName"] == nil {
		t.Fatalf("getUserInfo after Alipay expired the token: %v %v", u, err)
	}
	if got := strings.Join(g2.methods(), " "); got != "alipay.user.info.share alipay.system.oauth.token/refresh alipay.user.info.share" {
		t.Errorf("calls %s", got)
	}
	// Now the refreshed token expires too and the refresh is refused.
	g2.expireAll()
	if _, err := call(t, b, apiCode2Session, `{"code":"bad"}`); err != nil {
		t.Fatal(err)
	}
	b.tokens.Put(context.Background(), b.Endpoint, b.AppID, "074open-r3", userToken("dead", "refresh-bad", time.Now().Add(-time.Hour)))
	if u, err := call(t, b, apiGetUserInfo, `{"openid":"074open-r3"}`); err != nil || u["errCode"] != "isv.code-invalid" {
		t.Errorf("refused refresh: %v %v", u, err)
	}
	_, err := call(t, b, apiGetUserInfo, `{"openid":"074open-r3"}`)
	wantError(t, "after a refused refresh", err, 400, handlers.ErrBadRequest, "call auth.code2Session first")
}

// expose_auth_token answers the tokens, and getUserInfo takes the
// caller's own token.
func TestExposeAuthToken(t *testing.T) {
	g := &fakeGateway{t: t, p: alipaytest.New(t), live: map[string]bool{}, expiresIn: 3600}
	a := publicKeyGuest(t, g, func(a *Alipay) { a.ExposeAuthToken = true })
	m, err := call(t, a, apiCode2Session, `{"code":"e1"}`)
	at, _ := m["accessToken"].(string)
	if err != nil || !strings.HasPrefix(at, "authusrB-") || m["refreshToken"] != "refresh-e1" {
		t.Fatalf("code2Session: %v %v", m, err)
	}
	if u, err := call(t, a, apiGetUserInfo, `{"authToken":"`+at+`"}`); err != nil || u["nickName"] == nil {
		t.Errorf("getUserInfo with the caller's token: %v %v", u, err)
	}
	if u, err := call(t, a, apiGetUserInfo, `{"authToken":"unknown"}`); err != nil || u["errCode"] != "aop.invalid-auth-token" {
		t.Errorf("an unknown token: %v %v", u, err)
	}
}

// userToken builds a kept token.
func userToken(access, refresh string, expires time.Time) weixin.UserToken {
	return weixin.UserToken{AccessToken: access, RefreshToken: refresh, ExpiresAt: expires}
}

func num(v any) float64 { f, _ := v.(float64); return f }
