package weixin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/handlers/openapi"
)

// Credentials of the local WeChat's platform apps; none may reach a caller.
var oauthSecrets = map[string]string{
	"wxoa01":  "oa-secret-0123456789",
	"wxapp01": "app-secret-0123456789",
	"wxweb01": "web-secret-0123456789",
}

const (
	userAccessToken  = "user-access-token-0123456789"
	userRefreshToken = "user-refresh-token-0123456789"
)

// oauthFake is a local WeChat for the login APIs: codes "code-<n>" log in
// openid "openid-<n>" once (40163 after), "bad…" is 40029.
type oauthFake struct {
	mu    sync.Mutex
	used  map[string]bool
	paths []string
	srv   *httptest.Server
}

func newOAuthFake(t *testing.T) *oauthFake {
	f := &oauthFake{used: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.paths = append(f.paths, r.URL.Path)
		q := r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/sns/oauth2/access_token":
			code, appid := q.Get("code"), q.Get("appid")
			switch {
			case oauthSecrets[appid] == "" || q.Get("secret") != oauthSecrets[appid] || q.Get("grant_type") != "authorization_code":
				_, _ = io.WriteString(w, `{"errcode":40125,"errmsg":"invalid appsecret"}`)
			case strings.HasPrefix(code, "bad"):
				_, _ = io.WriteString(w, `{"errcode":40029,"errmsg":"invalid code"}`)
			case f.used[appid+code]:
				_, _ = io.WriteString(w, `{"errcode":40163,"errmsg":"code been used"}`)
			default:
				f.used[appid+code] = true
				_, _ = fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200,"refresh_token":%q,"openid":"openid-%s","scope":"snsapi_userinfo","unionid":"union-1","is_snapshotuser":1,"secret_echo":%q}`,
					userAccessToken+appid, userRefreshToken, strings.TrimPrefix(code, "code-"), q.Get("secret"))
			}
		case "/sns/userinfo":
			if !strings.HasPrefix(q.Get("access_token"), userAccessToken) {
				_, _ = io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
				return
			}
			_, _ = fmt.Fprintf(w, `{"openid":%q,"nickname":"Mei","sex":0,"headimgurl":"https://x/y.png","privilege":[],"unionid":"union-1","echo":%q}`,
				q.Get("openid"), q.Get("access_token"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *oauthFake) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func newOAuthGateway(t *testing.T, endpoint string, edit func(*Weixin)) *openapi.OpenAPI {
	wx := &Weixin{AppID: "wx01", Secret: testSecret1, Endpoint: endpoint,
		H5AppID: "wxoa01", H5Secret: oauthSecrets["wxoa01"], MobileAppID: "wxapp01", MobileSecret: oauthSecrets["wxapp01"],
		WebAppID: "wxweb01", WebSecret: oauthSecrets["wxweb01"]}
	if edit != nil {
		edit(wx)
	}
	return newGateway(t, &openapi.OpenAPI{}, wx)
}

// noCredentials fails when an answer holds a secret or a user token.
func noCredentials(t *testing.T, raw []byte) {
	t.Helper()
	for _, s := range []string{userAccessToken, userRefreshToken, "oa-secret", "app-secret", "web-secret", testSecret1} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("answer holds %s: %s", s, raw)
		}
	}
}

// Each platform logs in with its own appid and secret, keeps the user
// tokens, and answers getUserInfo with them; no credential is answered.
func TestOAuthLoginAndUserInfo(t *testing.T) {
	f := newOAuthFake(t)
	h := newOAuthGateway(t, f.srv.URL, nil)
	for i, p := range []string{"h5", "app", "web"} {
		code := fmt.Sprintf("code-%s%d", p, i)
		a := callOpenAPI(t, h, postJSON("/"+p+"/oauth/code2Session", fmt.Sprintf(`{"code":%q,"appId":"wx01"}`, code)))
		if a.status != 200 || a.code != float64(0) || !bytes.Contains(a.raw, []byte(`"openid":"openid-`+p)) ||
			!bytes.Contains(a.raw, []byte(`"scope":"snsapi_userinfo"`)) || !bytes.Contains(a.raw, []byte(`"unionid":"union-1"`)) ||
			!bytes.Contains(a.raw, []byte(`"isSnapshotuser":1`)) {
			t.Fatalf("%s login: %d %s", p, a.status, a.raw)
		}
		noCredentials(t, a.raw)
		if bytes.Contains(a.raw, []byte("expiresIn")) || bytes.Contains(a.raw, []byte("accessToken")) {
			t.Fatalf("%s login answers the token: %s", p, a.raw)
		}
		a = callOpenAPI(t, h, postJSON("/"+p+".oauth.getUserInfo", fmt.Sprintf(`{"openid":"openid-%s%d","lang":"en"}`, p, i)))
		if a.status != 200 || a.code != float64(0) || !bytes.Contains(a.raw, []byte(`"nickname":"Mei"`)) || !bytes.Contains(a.raw, []byte(`"headimgurl"`)) {
			t.Fatalf("%s getUserInfo: %d %s", p, a.status, a.raw)
		}
		noCredentials(t, a.raw)
	}
	// The same openid of another platform is another user token.
	a := callOpenAPI(t, h, postJSON("/web.oauth.getUserInfo", `{"openid":"openid-h50"}`))
	if a.status != 400 || a.code != "UNICLOUD_USER_TOKEN_NOT_FOUND" {
		t.Fatalf("another platform's openid: %d %s", a.status, a.raw)
	}
}

// The caller's mistakes and WeChat's code errors, each named; no provider
// call for a request the gateway refuses.
func TestOAuthErrors(t *testing.T) {
	f := newOAuthFake(t)
	h := newOAuthGateway(t, f.srv.URL, func(wx *Weixin) { wx.WebAppID, wx.WebSecret = "", "" })
	callOpenAPI(t, h, postJSON("/h5.oauth.code2Session", `{"code":"code-9"}`))
	for _, tc := range []struct {
		path, body string
		status     int
		code       any
		msg        string
		upstream   bool
	}{
		{"/h5.oauth.code2Session", `{}`, 400, "UNICLOUD_BAD_REQUEST", "code", false},
		{"/h5.oauth.code2Session", `{"code":7}`, 400, "UNICLOUD_BAD_REQUEST", "code", false},
		{"/app.oauth.getUserInfo", `{}`, 400, "UNICLOUD_BAD_REQUEST", "openid", false},
		{"/web.oauth.code2Session", `{"code":"code-1"}`, 400, "UNICLOUD_APP_NOT_FOUND", "web_app_id is not configured", false},
		{"/web.oauth.getUserInfo", `{"openid":"o"}`, 400, "UNICLOUD_APP_NOT_FOUND", "web_app_id is not configured", false},
		{"/app.oauth.getUserInfo", `{"openid":"openid-9"}`, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND", "call app.oauth.code2Session first", false},
		{"/h5.oauth.getUserInfo", `{"openid":"openid-unknown"}`, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND", "call h5.oauth.code2Session first", false},
		{"/h5.oauth.getUserInfo", `{"openid":"openid-9","accessToken":"` + userAccessToken + `x"}`, 200, float64(0), "ok", true}, // without expose: the kept one
		{"/h5.oauth.code2Session", `{"code":"bad-code"}`, 200, float64(40029), "invalid code", true},
		{"/h5.oauth.code2Session", `{"code":"code-9"}`, 200, float64(40163), "code been used", true},
	} {
		n := len(f.calls())
		a := callOpenAPI(t, h, postJSON(tc.path, tc.body))
		if a.status != tc.status || a.code != tc.code || !strings.Contains(a.msg, tc.msg) {
			t.Errorf("%s %s: %d %s; want %d %v %q", tc.path, tc.body, a.status, a.raw, tc.status, tc.code, tc.msg)
		}
		if called := len(f.calls()) > n; called != tc.upstream {
			t.Errorf("%s %s: provider called %v", tc.path, tc.body, called)
		}
		noCredentials(t, a.raw)
	}
}

// With expose_user_token the login answers the tokens and getUserInfo takes
// the caller's own accessToken.
func TestOAuthExposeUserToken(t *testing.T) {
	f := newOAuthFake(t)
	h := newOAuthGateway(t, f.srv.URL, func(wx *Weixin) { wx.ExposeUserToken = true })
	a := callOpenAPI(t, h, postJSON("/app.oauth.code2Session", `{"code":"code-1"}`))
	if a.status != 200 || !bytes.Contains(a.raw, []byte(`"accessToken":"`+userAccessToken+`wxapp01"`)) ||
		!bytes.Contains(a.raw, []byte(`"refreshToken":"`+userRefreshToken+`"`)) || !bytes.Contains(a.raw, []byte(`"expiresIn":7200`)) ||
		bytes.Contains(a.raw, []byte("app-secret")) {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	a = callOpenAPI(t, h, postJSON("/web.oauth.getUserInfo", `{"openid":"openid-x","accessToken":"`+userAccessToken+`-own"}`))
	if a.status != 200 || a.code != float64(0) || !bytes.Contains(a.raw, []byte(`"openid":"openid-x"`)) {
		t.Fatalf("own token: %d %s", a.status, a.raw)
	}
}

// A platform app alone is a valid configuration; its secret is required
// (a fixed access_token does not replace it: login always needs it), and an
// unset placeholder is named.
func TestOAuthValidate(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	t.Setenv("UNICLOUD_VALIDATE_SECRET", "")
	for name, tc := range map[string]struct {
		wx   Weixin
		want string
	}{
		"web only":              {Weixin{WebAppID: "wxweb", WebSecret: "s"}, ""},
		"mobile only":           {Weixin{MobileAppID: "wxapp", MobileSecret: "s"}, ""},
		"mobile without secret": {Weixin{MobileAppID: "wxapp"}, "mobile_secret of wxapp is empty"},
		"web without secret":    {Weixin{AppID: "wx1", AccessToken: "t", WebAppID: "wxweb"}, "web_secret of wxweb is empty"},
		"web secret unset":      {Weixin{WebAppID: "wxweb", WebSecret: "{env.UNICLOUD_VALIDATE_SECRET}"}, "web_secret"},
		"nothing at all":        {Weixin{}, "mobile_app_id"},
	} {
		t.Run(name, func(t *testing.T) {
			wx := tc.wx
			err := wx.Provision(ctx)
			if err == nil {
				defer wx.Cleanup()
				err = wx.Validate()
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}
