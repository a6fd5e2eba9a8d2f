package emulator

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// Web authorization and open-platform login: a code works once (40163
// after, "bad…" 40029), the user token reads the profile until it expires
// (42001), the refresh_token makes a new one (and stays the same), an
// unknown refresh_token is 40030, a mini-program's appid 40013.
func TestOAuthLogin(t *testing.T) {
	const webApp, webSecret = "wx4444444444444444", "website-app-secret"
	clock := &fakeClock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := New(Config{
		WeixinApps:             map[string]string{testApp: testSecret},
		WeixinOfficialAccounts: map[string]string{testOA: testOASecret},
		WeixinOpenApps:         map[string]string{webApp: webSecret},
		Now:                    clock.Now,
	})
	login := func(appid, secret, code string) map[string]any {
		return getJSON(t, s, "/sns/oauth2/access_token?"+url.Values{
			"appid": {appid}, "secret": {secret}, "code": {code}, "grant_type": {"authorization_code"}}.Encode())
	}
	userinfo := func(tok, openid string) map[string]any {
		return getJSON(t, s, "/sns/userinfo?"+url.Values{"access_token": {tok}, "openid": {openid}}.Encode())
	}
	for _, app := range [][2]string{{testOA, testOASecret}, {webApp, webSecret}} {
		m := login(app[0], app[1], "alice.1")
		wantErrcode(t, m, 0)
		at, _ := m["access_token"].(string)
		rt, _ := m["refresh_token"].(string)
		openid, _ := m["openid"].(string)
		if at == "" || rt == "" || openid == "" || m["scope"] != "snsapi_userinfo" || fmt.Sprint(m["expires_in"]) != "7200" || m["unionid"] == nil {
			t.Fatalf("%s login: %v", app[0], m)
		}
		wantErrcode(t, login(app[0], app[1], "alice.1"), 40163)
		wantErrcode(t, login(app[0], app[1], "bad-code"), 40029)
		wantErrcode(t, login(app[0], "wrong-secret", "alice.2"), 40125)
		if again := login(app[0], app[1], "alice.2"); again["openid"] != openid {
			t.Fatalf("the same user got another openid: %v", again)
		}
		p := userinfo(at, openid)
		if p["openid"] != openid || p["nickname"] == nil || p["headimgurl"] == nil || p["unionid"] != m["unionid"] {
			t.Fatalf("userinfo: %v", p)
		}
		wantErrcode(t, userinfo(at, "o-someone-else"), 40003)
		wantErrcode(t, userinfo("not-a-token", openid), 40001)

		s.ExpireUserTokens(app[0])
		wantErrcode(t, userinfo(at, openid), 42001)
		r := getJSON(t, s, "/sns/oauth2/refresh_token?"+url.Values{"appid": {app[0]}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
		wantErrcode(t, r, 0)
		if r["access_token"] == at || r["refresh_token"] != rt || r["openid"] != openid {
			t.Fatalf("refresh: %v", r)
		}
		if p := userinfo(r["access_token"].(string), openid); p["openid"] != openid || p["errcode"] != nil {
			t.Fatalf("userinfo after the refresh: %v", p)
		}
		wantErrcode(t, getJSON(t, s, "/sns/oauth2/refresh_token?appid="+app[0]+"&grant_type=refresh_token&refresh_token=nope"), 40030)
		clock.Add(31 * 24 * time.Hour)
		wantErrcode(t, getJSON(t, s, "/sns/oauth2/refresh_token?"+url.Values{"appid": {app[0]}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()), 42002)
	}
	wantErrcode(t, login(testApp, testSecret, "alice.9"), 40013)
	wantErrcode(t, decode(t, do(s, "POST", "/_emulator/weixin/expire_user_tokens?appid="+webApp, nil, "")), 0)
}
