package unicloud

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// Official-account, mobile-app and website login through Caddy, against the
// emulator's /sns/oauth2 and /sns/userinfo: the user tokens stay with the
// gateway.

const (
	testMobileAppID  = "wx00000000000000b6"
	testMobileSecret = "s3cr3t-of-the-mobile-app-666"
	testWebAppID     = "wx00000000000000c7"
	testWebSecret    = "s3cr3t-of-the-website-app-777"
)

// oauthEmulator is the emulator with the three platform apps; it keeps
// every user token it hands out, so tests can look for them in answers and
// logs.
type oauthEmulator struct {
	emu *emulator.Server
	url string

	mu     sync.Mutex
	tokens []string
}

func newOAuthEmulator(t *testing.T) *oauthEmulator {
	o := &oauthEmulator{emu: emulator.New(emulator.Config{
		WeixinApps:             map[string]string{testAppID: testSecret},
		WeixinOfficialAccounts: map[string]string{testH5AppID: testH5Secret},
		WeixinOpenApps:         map[string]string{testMobileAppID: testMobileSecret, testWebAppID: testWebSecret},
	})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		o.emu.ServeHTTP(rec, r)
		if body := rec.Body.Bytes(); r.URL.Path == "/sns/oauth2/access_token" || r.URL.Path == "/sns/oauth2/refresh_token" {
			o.mu.Lock()
			for _, k := range []string{"access_token", "refresh_token"} {
				if v := gjson.GetBytes(body, k).String(); v != "" {
					o.tokens = append(o.tokens, v)
				}
			}
			o.mu.Unlock()
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

// noUserTokens fails when raw holds a user token or a platform secret.
func (o *oauthEmulator) noUserTokens(t *testing.T, what string, raw []byte) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tokens) == 0 {
		t.Fatal("the emulator handed out no user token")
	}
	for _, s := range append([]string{testH5Secret, testMobileSecret, testWebSecret}, o.tokens...) {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("%s holds a user token or a secret", what)
		}
	}
}

func oauthBlock(endpoint, extra string) string {
	return fmt.Sprintf(`unicloud_openapi weixin {
			h5_app_id     %s
			h5_secret     %s
			mobile_app_id %s
			mobile_secret %s
			web_app_id    %s
			web_secret    %s
			endpoint      %s
			%s
		}`, testH5AppID, testH5Secret, testMobileAppID, testMobileSecret, testWebAppID, testWebSecret, endpoint, extra)
}

func startOAuthGateway(t *testing.T, o *oauthEmulator, extra string) (*gateway, string) {
	dir := t.TempDir()
	addr := freeAddr(t)
	logFile := filepath.Join(dir, "caddy.log")
	loadCaddy(t, globalOptions(filepath.Join(dir, "storage"), logFile)+fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
}
`, addr, oauthBlock(o.url, extra)))
	return &gateway{t: t, base: "http://" + addr, emu: o.emu}, logFile
}

// Each platform logs in with its own app and reads the profile with the
// token the gateway kept; no user token is answered or logged.
func TestOAuthLoginThroughCaddy(t *testing.T) {
	o := newOAuthEmulator(t)
	g, logFile := startOAuthGateway(t, o, "")
	for _, p := range []string{"h5", "app", "web"} {
		a := g.post("/wx/"+p+"/oauth/code2Session", map[string]any{"code": "mei." + p}).expect(t, 200, 0)
		openid := a.str("openid")
		if openid == "" || a.str("scope") != "snsapi_userinfo" || a.str("unionid") == "" {
			t.Fatalf("%s login: %s", p, a.raw)
		}
		if _, ok := a.obj["expiresIn"]; ok {
			t.Fatalf("%s login answers the token's life without expose_user_token: %s", p, a.raw)
		}
		o.noUserTokens(t, p+" login answer", a.raw)
		g.post("/wx/"+p+"/oauth/code2Session", map[string]any{"code": "mei." + p}).expect(t, 200, 40163)
		u := g.post("/wx/"+p+".oauth.getUserInfo", map[string]any{"openid": openid, "lang": "en"}).expect(t, 200, 0)
		if u.str("openid") != openid || u.str("nickname") == "" || u.str("headimgurl") == "" || u.str("unionid") != a.str("unionid") {
			t.Fatalf("%s getUserInfo: %s", p, u.raw)
		}
		o.noUserTokens(t, p+" getUserInfo answer", u.raw)
	}
	g.post("/wx/h5/oauth/code2Session", map[string]any{"code": "bad-code"}).expect(t, 200, 40029)
	g.post("/wx/h5/oauth/getUserInfo", map[string]any{"openid": "o-never-logged-in"}).expect(t, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND")
	if n := o.emu.Stats().Calls["/sns/userinfo"]; n != 3 {
		t.Fatalf("%d userinfo calls, want 3 (none for an openid without a token)", n)
	}
	logs, _ := os.ReadFile(logFile)
	if len(logs) == 0 {
		t.Fatal("nothing was logged")
	}
	o.noUserTokens(t, "the log", logs)
}

// An expired user token (42001 from userinfo) is refreshed exactly once and
// the new one kept; a refused refresh drops the tokens and answers WeChat's
// errcode, after which the openid has no token.
func TestOAuthUserTokenRefreshOnce(t *testing.T) {
	o := newOAuthEmulator(t)
	g, _ := startOAuthGateway(t, o, "")
	openid := g.post("/wx/h5/oauth/code2Session", map[string]any{"code": "lin.1"}).expect(t, 200, 0).str("openid")
	info := func() answer {
		return g.post("/wx/h5/oauth/getUserInfo", map[string]any{"openid": openid})
	}
	info().expect(t, 200, 0)
	o.emu.ExpireUserTokens(testH5AppID)
	a := info().expect(t, 200, 0)
	if a.str("openid") != openid {
		t.Fatalf("after the refresh: %s", a.raw)
	}
	st := o.emu.Stats().Calls
	if st["/sns/oauth2/refresh_token"] != 1 || st["/sns/userinfo"] != 3 {
		t.Fatalf("refresh %d, userinfo %d; want 1 and 3 (refused, refreshed, retried)", st["/sns/oauth2/refresh_token"], st["/sns/userinfo"])
	}
	info().expect(t, 200, 0)
	if n := o.emu.Stats().Calls["/sns/oauth2/refresh_token"]; n != 1 {
		t.Fatalf("the refreshed token was not kept: %d refreshes", n)
	}
	o.emu.RevokeUserRefreshTokens(testH5AppID)
	o.emu.ExpireUserTokens(testH5AppID)
	info().expect(t, 200, 40030)
	info().expect(t, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND")
	if n := o.emu.Stats().Calls["/sns/oauth2/refresh_token"]; n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
}

// Two Caddy instances sharing a storage: a login on one serves getUserInfo
// on the other.
func TestOAuthTwoInstancesShareUserToken(t *testing.T) {
	o := newOAuthEmulator(t)
	storage := filepath.Join(t.TempDir(), "shared-storage")
	var bases []string
	for range 2 {
		addr := freeAddr(t)
		startChildCaddy(t, globalOptions(storage, "")+fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
}
`, addr, oauthBlock(o.url, "")))
		bases = append(bases, "http://"+addr)
	}
	a := &gateway{t: t, base: bases[0]}
	b := &gateway{t: t, base: bases[1]}
	openid := a.post("/wx/web/oauth/code2Session", map[string]any{"code": "qr.1"}).expect(t, 200, 0).str("openid")
	u := b.post("/wx/web/oauth/getUserInfo", map[string]any{"openid": openid}).expect(t, 200, 0)
	if u.str("openid") != openid {
		t.Fatalf("the other instance: %s", u.raw)
	}
	if n := o.emu.Stats().Calls["/sns/oauth2/access_token"]; n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}

// With expose_user_token the login answers the tokens, and getUserInfo
// takes the caller's own accessToken.
func TestOAuthExposeUserToken(t *testing.T) {
	o := newOAuthEmulator(t)
	g, _ := startOAuthGateway(t, o, "expose_user_token")
	a := g.post("/wx/app/oauth/code2Session", map[string]any{"code": "ana.1"}).expect(t, 200, 0)
	if a.str("accessToken") == "" || a.str("refreshToken") == "" || a.obj["expiresIn"] != float64(7200) {
		t.Fatalf("login with expose_user_token: %s", a.raw)
	}
	if bytes.Contains(a.raw, []byte(testMobileSecret)) {
		t.Fatal("the answer holds the app secret")
	}
	u := g.post("/wx/app/oauth/getUserInfo", map[string]any{"openid": a.str("openid"), "accessToken": a.str("accessToken")}).expect(t, 200, 0)
	if u.str("openid") != a.str("openid") {
		t.Fatalf("getUserInfo with the caller's token: %s", u.raw)
	}
}
