package emulator

import (
	"strings"
	"sync"
	"time"
)

// wxOAuth is web authorization (official accounts) and open-platform login
// (mobile and website apps): /sns/oauth2/access_token,
// /sns/oauth2/refresh_token and /sns/userinfo. Its zero value is ready.
type wxOAuth struct {
	mu      sync.Mutex
	access  map[string]*wxUserToken // user access_token → its state
	refresh map[string]*wxUserToken // refresh_token → its state
}

type wxUserToken struct {
	appid, openid, unionid, scope string
	expires                       time.Time
}

const (
	// refreshLife is the refresh_token's life on WeChat: 30 days.
	refreshLife   = 30 * 24 * time.Hour
	maxUserTokens = 10000
)

// isOAuthApp: appid may use /sns/oauth2 (an official account, or an
// open-platform mobile or website app).
func (x *weixin) isOAuthApp(appid string) bool {
	if x.isOfficialAccount(appid) {
		return true
	}
	_, ok := x.s.cfg.WeixinOpenApps[appid]
	return ok
}

// oauthAccessToken is GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code.
// Test codes work once (40163 after); "used" is 40163, "bad…" and "invalid"
// 40029. The code's part before a "." names the user, so "alice.1" and
// "alice.2" log in the same openid.
func (x *weixin) oauthAccessToken(c *wxCall) {
	q := c.r.URL.Query()
	appid, secret := q.Get("appid"), q.Get("secret")
	if code, msg := x.checkOAuthApp(appid, secret); code != 0 {
		c.fail(code, msg)
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		c.fail(40002, "invalid grant_type")
		return
	}
	code := q.Get("code")
	switch {
	case code == "":
		c.fail(41008, "missing code")
		return
	case code == "invalid" || strings.HasPrefix(code, "bad"):
		c.fail(40029, "invalid code")
		return
	case code == "used" || !x.useCode(appid, "oauth\x00"+code):
		c.fail(40163, "code been used")
		return
	}
	user, _, _ := strings.Cut(code, ".")
	t := &wxUserToken{appid: appid, openid: userID("oauth", appid, user), unionid: userID("unionid", user), scope: "snsapi_userinfo"}
	c.ok(x.oauth.issue(x, t, ""))
}

// checkOAuthApp is checkApp for the apps that may use /sns/oauth2 (a
// mini-program's appid: 40013, as on WeChat).
func (x *weixin) checkOAuthApp(appid, secret string) (int, string) {
	if code, msg := x.checkApp(appid, secret); code != 0 {
		return code, msg
	}
	if !x.isOAuthApp(appid) {
		return 40013, "invalid appid"
	}
	return 0, ""
}

// issue makes a new user access token for t and answers it with rt, or
// with a new refresh token when rt is empty (a login).
func (o *wxOAuth) issue(x *weixin, t *wxUserToken, rt string) map[string]any {
	now := x.s.now()
	ttl := time.Duration(x.s.cfg.TokenTTL)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.access == nil {
		o.access, o.refresh = map[string]*wxUserToken{}, map[string]*wxUserToken{}
	}
	o.prune(now)
	if rt == "" {
		// A login: a new refresh token for 30 days (a refresh keeps it).
		rt = randomB64URL(64)
		o.refresh[rt] = &wxUserToken{appid: t.appid, openid: t.openid, unionid: t.unionid, scope: t.scope, expires: now.Add(refreshLife)}
	}
	at := newAccessToken()
	o.access[at] = &wxUserToken{appid: t.appid, openid: t.openid, unionid: t.unionid, scope: t.scope, expires: now.Add(ttl)}
	return map[string]any{
		"access_token": at, "expires_in": ceilSeconds(ttl), "refresh_token": rt,
		"openid": t.openid, "scope": t.scope, "unionid": t.unionid,
	}
}

// prune forgets expired tokens once the maps are full; o.mu is held.
func (o *wxOAuth) prune(now time.Time) {
	for _, m := range []map[string]*wxUserToken{o.access, o.refresh} {
		if len(m) < maxUserTokens {
			continue
		}
		for v, t := range m {
			if !now.Before(t.expires) {
				delete(m, v)
			}
		}
		for v := range m {
			if len(m) < maxUserTokens {
				break
			}
			delete(m, v)
		}
	}
}

// oauthRefresh is GET /sns/oauth2/refresh_token?appid&grant_type=refresh_token&refresh_token:
// a new access token (the refresh_token stays); 40030 for an unknown
// refresh_token, 42002 for an expired one.
func (x *weixin) oauthRefresh(c *wxCall) {
	q := c.r.URL.Query()
	appid := q.Get("appid")
	if !x.isOAuthApp(appid) {
		c.fail(40013, "invalid appid")
		return
	}
	if q.Get("grant_type") != "refresh_token" {
		c.fail(40002, "invalid grant_type")
		return
	}
	o := &x.oauth
	now := x.s.now()
	o.mu.Lock()
	t, ok := o.refresh[q.Get("refresh_token")]
	var cp wxUserToken
	if ok {
		cp = *t
	}
	o.mu.Unlock()
	switch {
	case !ok || cp.appid != appid:
		c.fail(40030, "invalid refresh_token")
		return
	case !now.Before(cp.expires):
		c.fail(42002, "refresh_token timeout")
		return
	}
	c.ok(o.issue(x, &cp, q.Get("refresh_token")))
}

// oauthUserInfo is GET /sns/userinfo?access_token&openid[&lang]: a
// plausible profile; 40001 for an unknown user token, 42001 for an expired
// one, 40003 for another user's openid.
func (x *weixin) oauthUserInfo(c *wxCall) {
	q := c.r.URL.Query()
	tok := q.Get("access_token")
	if tok == "" {
		c.fail(41001, "access_token missing")
		return
	}
	o := &x.oauth
	o.mu.Lock()
	t, ok := o.access[tok]
	var cp wxUserToken
	if ok {
		cp = *t
	}
	o.mu.Unlock()
	switch {
	case !ok:
		c.fail(40001, "invalid credential, access_token is invalid or not latest")
		return
	case !x.s.now().Before(cp.expires):
		c.fail(42001, "access_token expired")
		return
	case q.Get("openid") != cp.openid:
		c.fail(40003, "invalid openid")
		return
	}
	writeJSON(c.w, 200, map[string]any{
		"openid": cp.openid, "nickname": "Test user " + cp.unionid[1:7], "sex": 0,
		"province": "", "city": "", "country": "",
		"headimgurl": "https://thirdwx.qlogo.cn/mmopen/vi_32/" + cp.unionid[1:] + "/132",
		"privilege":  []string{}, "unionid": cp.unionid,
	})
}

// ExpireUserTokens makes every user access token of appid expire now (the
// next /sns/userinfo with one gets 42001; refresh tokens keep working).
// Also POST /_emulator/weixin/expire_user_tokens?appid=.
func (s *Server) ExpireUserTokens(appid string) {
	x := s.weixin()
	now := s.now()
	o := &x.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, t := range o.access {
		if t.appid == appid && now.Before(t.expires) {
			t.expires = now
		}
	}
}

// RevokeUserRefreshTokens forgets every refresh token of appid (the next
// refresh gets 40030), as when the user withdrew the authorization.
func (s *Server) RevokeUserRefreshTokens(appid string) {
	x := s.weixin()
	o := &x.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	for v, t := range o.refresh {
		if t.appid == appid {
			delete(o.refresh, v)
		}
	}
}
