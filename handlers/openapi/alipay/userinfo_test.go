package alipay

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf/alipaytest"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// gateway is the emulator's Alipay gateway for app 2021 in public-key
// mode, its answers signed with the first Alipay test key, with a
// recorder of what it was sent.
type gateway struct {
	emu  *emulator.Server
	rec  *emulator.Recorder
	url  string
	seen int
}

func newGateway(t *testing.T, p *alipaytest.PKI) *gateway {
	t.Helper()
	appPub, _ := x509.MarshalPKIXPublicKey(&p.AppKey.PublicKey)
	aliKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(p.AlipayKeys[0])})
	g := &gateway{rec: &emulator.Recorder{}}
	g.emu = emulator.New(emulator.Config{
		AlipayApps: []emulator.AlipayApp{{AppID: "2021", AppPublicKey: base64.StdEncoding.EncodeToString(appPub), AlipayPrivateKey: string(aliKey)}},
		Record:     g.rec.Record,
	})
	srv := httptest.NewServer(g.emu)
	t.Cleanup(srv.Close)
	g.url = srv.URL + "/gateway.do"
	return g
}

// expireAll makes every issued token expired at Alipay.
func (g *gateway) expireAll() { g.emu.ExpireAlipayTokens("") }

// methods are the methods called since the last methods, a refresh as
// alipay.system.oauth.token/refresh.
func (g *gateway) methods() []string {
	all := g.rec.Requests("/gateway.do")
	var out []string
	for _, r := range all[g.seen:] {
		f := r.Form()
		m := f.Get("method")
		if f.Get("grant_type") == "refresh_token" {
			m += "/refresh"
		}
		out = append(out, m)
	}
	g.seen = len(all)
	return out
}

// publicKeyGuest provisions the guest in public-key mode against g.
func publicKeyGuest(t *testing.T, g *gateway, p *alipaytest.PKI, edit func(*Alipay)) *Alipay {
	t.Helper()
	der, _ := x509.MarshalPKIXPublicKey(&p.AlipayKeys[0].PublicKey)
	a := &Alipay{AppID: "2021", PrivateKey: p.AppKeyPEM, KeyType: "PKCS1", AlipayPublicKey: base64.StdEncoding.EncodeToString(der), Endpoint: g.url}
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

// login is code2Session for code: the openid.
func login(t *testing.T, a *Alipay, code string) string {
	t.Helper()
	m, err := call(t, a, apiCode2Session, `{"code":"`+code+`"}`)
	openid, _ := m["openid"].(string)
	if err != nil || openid == "" {
		t.Fatalf("code2Session: %v %v", m, err)
	}
	return openid
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
	p := alipaytest.New(t)
	g := newGateway(t, p)
	a := publicKeyGuest(t, g, p, nil)
	m, err := call(t, a, apiCode2Session, `{"code":"u1"}`)
	openid, _ := m["openid"].(string)
	userID, _ := m["userId"].(string)
	if err != nil || !strings.HasPrefix(openid, "074") || !strings.HasPrefix(userID, "2088") || num(m["expiresIn"]) != 1296000 || m["authStart"] == nil {
		t.Fatalf("code2Session: %v %v", m, err)
	}
	for _, k := range []string{"accessToken", "refreshToken", "reExpiresIn"} {
		if _, ok := m[k]; ok {
			t.Errorf("code2Session answered %s: %v", k, m)
		}
	}
	if again := login(t, a, "u1"); again != openid {
		t.Fatalf("the same user logs in as another openid: %s, %s", openid, again)
	}
	kept, ok := a.tokens.Get(context.Background(), a.Endpoint, a.AppID, openid)
	if !ok || !strings.HasPrefix(kept.AccessToken, "authusrB") || kept.RefreshToken != "refresh-u1" {
		t.Fatalf("kept %+v, %v", kept, ok)
	}
	u, err := call(t, a, apiGetUserInfo, `{"openid":"`+openid+`"}`)
	if err != nil || num(u["errCode"]) != 0 || u["nickName"] != "测试用户"+userID[len(userID)-4:] || u["city"] != "杭州市" || u["openid"] != openid || u["userId"] != userID {
		t.Fatalf("getUserInfo: %v %v", u, err)
	}
	if b, _ := json.Marshal(u); strings.Contains(string(b), kept.AccessToken) || strings.Contains(string(b), kept.RefreshToken) {
		t.Errorf("a token in the answer: %s", b)
	}
	g.methods()
	_, err = call(t, a, apiGetUserInfo, `{"openid":"074nobody"}`)
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
	ctx := context.Background()
	p := alipaytest.New(t)
	g := newGateway(t, p)
	a := publicKeyGuest(t, g, p, nil)
	openid := login(t, a, "r1")
	// Past its expires_in by the gateway's clock: refreshed before use.
	kept, _ := a.tokens.Get(ctx, a.Endpoint, a.AppID, openid)
	a.tokens.Put(ctx, a.Endpoint, a.AppID, openid, userToken(kept.AccessToken, kept.RefreshToken, time.Now().Add(-time.Second)))
	g.methods()
	if u, err := call(t, a, apiGetUserInfo, `{"openid":"`+openid+`"}`); err != nil || u["nickName"] == nil {
		t.Fatalf("getUserInfo: %v %v", u, err)
	}
	if got := strings.Join(g.methods(), " "); got != "alipay.system.oauth.token/refresh alipay.user.info.share" {
		t.Errorf("calls %s", got)
	}
	if now, _ := a.tokens.Get(ctx, a.Endpoint, a.AppID, openid); now.AccessToken == kept.AccessToken || !a.tokens.Now().Before(now.ExpiresAt) {
		t.Errorf("after the refresh the gateway keeps %+v", now)
	}

	openid2 := login(t, a, "r2")
	g.expireAll()
	g.methods()
	if u, err := call(t, a, apiGetUserInfo, `{"openid":"`+openid2+`"}`); err != nil || u["nickName"] == nil {
		t.Fatalf("getUserInfo after Alipay expired the token: %v %v", u, err)
	}
	if got := strings.Join(g.methods(), " "); got != "alipay.user.info.share alipay.system.oauth.token/refresh alipay.user.info.share" {
		t.Errorf("calls %s", got)
	}
	// A refresh token Alipay refuses: the record is dropped.
	a.tokens.Put(ctx, a.Endpoint, a.AppID, "074open-r3", userToken("dead", "refresh-nobody", time.Now().Add(-time.Hour)))
	if u, err := call(t, a, apiGetUserInfo, `{"openid":"074open-r3"}`); err != nil || u["errCode"] != "isv.refresh-token-invalid" {
		t.Errorf("refused refresh: %v %v", u, err)
	}
	_, err := call(t, a, apiGetUserInfo, `{"openid":"074open-r3"}`)
	wantError(t, "after a refused refresh", err, 400, handlers.ErrBadRequest, "call auth.code2Session first")
}

// Concurrent getUserInfo calls for one user whose token Alipay says has
// expired share one refresh.
func TestUserInfoConcurrentRefresh(t *testing.T) {
	p := alipaytest.New(t)
	g := newGateway(t, p)
	a := publicKeyGuest(t, g, p, nil)
	openid := login(t, a, "c1")
	g.expireAll()
	g.methods()
	const callers = 6
	errs := make(chan error, callers)
	for range callers {
		go func() {
			u, err := call(t, a, apiGetUserInfo, `{"openid":"`+openid+`"}`)
			if err == nil && u["nickName"] == nil {
				err = errors.New("no nickName")
			}
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	refreshes := 0
	for _, m := range g.methods() {
		if m == "alipay.system.oauth.token/refresh" {
			refreshes++
		}
	}
	if refreshes != 1 {
		t.Fatalf("%d refreshes for %d concurrent callers of one user; want 1", refreshes, callers)
	}
}

// expose_auth_token answers the tokens, and getUserInfo takes the
// caller's own token.
func TestExposeAuthToken(t *testing.T) {
	p := alipaytest.New(t)
	g := newGateway(t, p)
	a := publicKeyGuest(t, g, p, func(a *Alipay) { a.ExposeAuthToken = true })
	m, err := call(t, a, apiCode2Session, `{"code":"e1"}`)
	at, _ := m["accessToken"].(string)
	if err != nil || !strings.HasPrefix(at, "authusrB") || m["refreshToken"] != "refresh-e1" {
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
