package unicloud

// Acceptance checks of WeChat outside the mini-program: official-account,
// app and website login, h5.jssdk.getConfig, WeChat Pay clientType
// h5-weixin and client_app_id.

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// §2b: the WeChat setup.

const (
	qaWxApp      = "wx0000000000000qa1"
	qaWxSecret   = "qa-mini-secret-000000000000000001"
	qaWxApp2     = "wx0000000000000qa2"
	qaWxSecret2  = "qa-mini-secret-000000000000000002"
	qaOA         = "wx00000000000qaoa1"
	qaOASecret   = "qa-oa-secret-0000000000000000001"
	qaOA2        = "wx00000000000qaoa2"
	qaOA2Secret  = "qa-oa-secret-0000000000000000002"
	qaMob        = "wx00000000000qamob"
	qaMobSecret  = "qa-mobile-secret-00000000000000001"
	qaWeb        = "wx00000000000qaweb"
	qaWebSecret  = "qa-website-secret-0000000000000001"
	qaMch        = "1900000qa1"
	qaMchKey     = "qa-apiv2-key-0000000000000000001"
	qaShortOA    = "wx00000000000qasoa"
	qaShortOASec = "qa-short-oa-secret-0000000000001"
)

var qaWxSecrets = []string{qaWxSecret, qaWxSecret2, qaOASecret, qaOA2Secret, qaMobSecret, qaWebSecret, qaMchKey, qaShortOASec}

type qaWx struct {
	base    string // the gateway
	emu     string // the emulator's site (host:port)
	proxy   *qaProxy
	short   *qaProxy // in front of the emulator with token_ttl 1s
	logFile string
}

func qaStartWeixin(t *testing.T) *qaWx {
	t.Helper()
	dir := t.TempDir()
	emu, emuShort, gw := freeAddr(t), freeAddr(t), freeAddr(t)
	w := &qaWx{base: "http://" + gw, emu: emu, logFile: filepath.Join(dir, "caddy.log")}
	w.proxy = newQAProxy(t, emu)
	w.short = newQAProxy(t, emuShort)
	platforms := fmt.Sprintf(`h5_app_id %s
			h5_secret %s
			mobile_app_id %s
			mobile_secret {env.QA_WX_MOBILE_SECRET}
			web_app_id %s
			web_secret %s`, qaOA, qaOASecret, qaMob, qaWeb, qaWebSecret)
	t.Setenv("QA_WX_MOBILE_SECRET", qaMobSecret)
	cf := globalOptions(filepath.Join(dir, "storage"), w.logFile) + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		weixin_app %[4]s %[5]s
		weixin_app %[6]s %[7]s
		weixin_official_account %[8]s %[9]s
		weixin_official_account %[10]s %[11]s
		weixin_open_app %[12]s %[13]s
		weixin_open_app %[14]s %[15]s
		wxpay_merchant %[16]s %[17]s
	}
}

http://%[2]s {
	unicloud_emulator {
		weixin_official_account %[18]s %[19]s
		token_ttl 1s
	}
}

http://%[3]s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id %[4]s
			secret %[5]s
			%[20]s
			endpoint %[21]s
		}
	}
	handle_path /wxexp/* {
		unicloud_openapi weixin {
			app_id %[4]s
			secret %[5]s
			%[20]s
			endpoint %[21]s
			expose_user_token
		}
	}
	handle_path /wxoa2/* {
		unicloud_openapi weixin {
			h5_app_id %[10]s
			h5_secret %[11]s
			endpoint %[21]s
		}
	}
	handle_path /wxmini/* {
		unicloud_openapi weixin {
			app_id %[4]s
			secret %[5]s
			endpoint %[21]s
		}
	}
	handle_path /wxshort/* {
		unicloud_openapi weixin {
			h5_app_id %[18]s
			h5_secret %[19]s
			endpoint %[22]s
		}
	}
	handle_path /pay/wxpay/* {
		unicloud_payment wxpay {
			app_id %[4]s
			mch_id %[16]s
			key %[17]s
			client_app_id mp-weixin %[6]s
			client_app_id h5-weixin %[8]s
			client_app_id app-plus %[12]s
			client_app_id native %[14]s
			notify_url http://127.0.0.1:1/notify/wxpay
			endpoint %[21]s
		}
	}
}
`, emu, emuShort, gw, qaWxApp, qaWxSecret, qaWxApp2, qaWxSecret2, qaOA, qaOASecret, qaOA2, qaOA2Secret,
		qaMob, qaMobSecret, qaWeb, qaWebSecret, qaMch, qaMchKey, qaShortOA, qaShortOASec, platforms, w.proxy.url, w.short.url)
	loadCaddy(t, cf)
	return w
}

// userTokens is every user access/refresh token the emulator handed out
// through p.
func qaUserTokens(p *qaProxy) []string {
	var out []string
	for _, path := range []string{"/sns/oauth2/access_token", "/sns/oauth2/refresh_token"} {
		for _, e := range p.all(path) {
			for _, k := range []string{"access_token", "refresh_token"} {
				if v := qaJSONField(e.RespBody, k); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

var qaPlatforms = []struct{ p, appid, secret string }{
	{"h5", qaOA, qaOASecret}, {"app", qaMob, qaMobSecret}, {"web", qaWeb, qaWebSecret},
}

// TestAcceptanceWeixinOAuthProviderCalls: for h5, app and web, code2Session is GET
// /sns/oauth2/access_token with the platform's own appid and secret (appId
// in the body does not switch it), the answer is {errCode 0, errMsg ok,
// openid, unionid, scope} without any user token; getUserInfo is GET
// /sns/userinfo with the kept token, the openid and lang, and answers the
// profile fields; a missing code/openid is 400 naming it, and an openid
// without a kept token is 400 "call <p>.oauth.code2Session first"; neither
// reaches WeChat.
func TestAcceptanceWeixinOAuthProviderCalls(t *testing.T) {
	w := qaStartWeixin(t)
	for _, pl := range qaPlatforms {
		t.Run(pl.p, func(t *testing.T) {
			code := "qa" + pl.p + ".1"
			status, m, raw := qaPost(t, w.base+"/wx/"+pl.p+"/oauth/code2Session", qaJSON(map[string]any{"code": code, "appId": qaWxApp}))
			if !qaWant(t, "code2Session", status, m, raw, 200, 0) {
				return
			}
			openid := qaStr(m, "openid")
			if m["errMsg"] != "ok" || openid == "" || qaStr(m, "scope") != "snsapi_userinfo" || qaStr(m, "unionid") == "" {
				t.Errorf("code2Session answer %s", raw)
			}
			for _, k := range []string{"accessToken", "refreshToken", "expiresIn", "access_token", "refresh_token"} {
				if _, ok := m[k]; ok {
					t.Errorf("code2Session answers %s without expose_user_token: %s", k, raw)
				}
			}
			e := w.proxy.last(t, "/sns/oauth2/access_token")
			if e.Method != http.MethodGet || e.Query.Get("appid") != pl.appid || e.Query.Get("secret") != pl.secret ||
				e.Query.Get("code") != code || e.Query.Get("grant_type") != "authorization_code" {
				t.Errorf("provider call %s %s?%s, want GET with appid=%s, its secret, code and grant_type=authorization_code",
					e.Method, e.Path, e.Query.Encode(), pl.appid)
			}
			qaNoneOf(t, "code2Session answer", raw, append(qaUserTokens(w.proxy), qaWxSecrets...)...)
			kept := qaJSONField(e.RespBody, "access_token")

			status, m, raw = qaPost(t, w.base+"/wx/"+pl.p+".oauth.getUserInfo", `{"openid":"`+openid+`","lang":"zh_CN"}`)
			if qaWant(t, "getUserInfo", status, m, raw, 200, 0) {
				for _, k := range []string{"openid", "nickname", "sex", "province", "city", "country", "headimgurl", "privilege", "unionid"} {
					if _, ok := m[k]; !ok {
						t.Errorf("getUserInfo has no %s: %s", k, raw)
					}
				}
				if m["errMsg"] != "ok" || qaStr(m, "openid") != openid {
					t.Errorf("getUserInfo answer %s", raw)
				}
			}
			u := w.proxy.last(t, "/sns/userinfo")
			if u.Method != http.MethodGet || u.Query.Get("access_token") != kept || u.Query.Get("openid") != openid || u.Query.Get("lang") != "zh_CN" {
				t.Errorf("userinfo call %s ?%s, want GET access_token=<kept>&openid=%s&lang=zh_CN", u.Method, u.Query.Encode(), openid)
			}
			qaNoneOf(t, "getUserInfo answer", raw, append(qaUserTokens(w.proxy), qaWxSecrets...)...)

			// Code errors are WeChat's, HTTP 200.
			for code, want := range map[string]int{"bad-" + pl.p: 40029, "invalid": 40029, "used": 40163} {
				status, m, raw = qaPost(t, w.base+"/wx/"+pl.p+"/oauth/code2Session", `{"code":"`+code+`"}`)
				if qaWant(t, "code "+code, status, m, raw, 200, want) && qaStr(m, "errMsg") == "" {
					t.Errorf("code %s: no errMsg: %s", code, raw)
				}
			}

			// Refusals of the gateway itself, with no provider call.
			before := w.proxy.count("")
			status, m, raw = qaPost(t, w.base+"/wx/"+pl.p+"/oauth/code2Session", `{}`)
			if qaWant(t, "no code", status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "code") {
				t.Errorf("no code: errMsg does not name code: %s", raw)
			}
			status, m, raw = qaPost(t, w.base+"/wx/"+pl.p+"/oauth/getUserInfo", `{"lang":"en"}`)
			if qaWant(t, "no openid", status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "openid") {
				t.Errorf("no openid: errMsg does not name openid: %s", raw)
			}
			status, m, raw = qaPost(t, w.base+"/wx/"+pl.p+"/oauth/getUserInfo", `{"openid":"oQANeverLoggedIn"}`)
			if qaWant(t, "no kept token", status, m, raw, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND") &&
				!strings.Contains(qaStr(m, "errMsg"), "call "+pl.p+".oauth.code2Session first") {
				t.Errorf("no kept token: errMsg %q does not say to call %s.oauth.code2Session first", m["errMsg"], pl.p)
			}
			// Without expose_user_token, a caller's own accessToken is not used.
			status, m, raw = qaPost(t, w.base+"/wx/"+pl.p+"/oauth/getUserInfo", `{"openid":"oQANeverLoggedIn","accessToken":"`+kept+`"}`)
			qaWant(t, "caller token without expose_user_token", status, m, raw, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND")
			if n := w.proxy.count(""); n != before {
				t.Errorf("%d provider calls for requests the gateway must refuse itself", n-before)
			}
		})
	}
	// GET with query parameters is the same call.
	status, m, raw := qaDo(t, http.MethodGet, w.base+"/wx/app/oauth/code2Session?code=qaget.1", "", "")
	if qaWant(t, "GET code2Session", status, m, raw, 200, 0) {
		if e := w.proxy.last(t, "/sns/oauth2/access_token"); e.Query.Get("code") != "qaget.1" || e.Query.Get("appid") != qaMob {
			t.Errorf("GET code2Session sent code %q appid %q", e.Query.Get("code"), e.Query.Get("appid"))
		}
	}
	// Tokens are kept per platform appid: the official account's login does
	// not serve the website app.
	_, m, _ = qaPost(t, w.base+"/wx/h5/oauth/code2Session", `{"code":"qacross.1"}`)
	status, m, raw = qaPost(t, w.base+"/wx/web/oauth/getUserInfo", `{"openid":"`+qaStr(m, "openid")+`"}`)
	qaWant(t, "h5 openid on web", status, m, raw, 400, "UNICLOUD_USER_TOKEN_NOT_FOUND")

	logs, _ := os.ReadFile(w.logFile)
	qaNoneOf(t, "the log", logs, append(qaUserTokens(w.proxy), qaWxSecrets...)...)
}

// TestAcceptanceWeixinPlatformNotConfigured: a platform without its appid answers
// 400 UNICLOUD_APP_NOT_FOUND naming the missing subdirective, even with a
// configured appId in the body, without calling WeChat.
func TestAcceptanceWeixinPlatformNotConfigured(t *testing.T) {
	w := qaStartWeixin(t)
	for api, want := range map[string]string{
		"h5/oauth/code2Session":  "h5_app_id is not configured",
		"h5.oauth.getUserInfo":   "h5_app_id is not configured",
		"h5/jssdk/getConfig":     "h5_app_id is not configured",
		"app/oauth/code2Session": "mobile_app_id is not configured",
		"app/oauth/getUserInfo":  "mobile_app_id is not configured",
		"web/oauth/code2Session": "web_app_id is not configured",
		"web.oauth.getUserInfo":  "web_app_id is not configured",
	} {
		body := `{"code":"qa-nc","openid":"oQA","url":"https://h5.example.com/","appId":"` + qaWxApp + `"}`
		status, m, raw := qaPost(t, w.base+"/wxmini/"+api, body)
		if qaWant(t, api, status, m, raw, 400, "UNICLOUD_APP_NOT_FOUND") && !strings.Contains(qaStr(m, "errMsg"), want) {
			t.Errorf("%s: errMsg %q, want it to say %q", api, m["errMsg"], want)
		}
	}
	if n := w.proxy.count(""); n != 0 {
		t.Errorf("%d provider calls for unconfigured platforms", n)
	}
}

// TestAcceptanceWeixinOAuthReplaceAndRefresh: a later login of the same openid
// replaces the kept tokens; when /sns/userinfo answers 42001 the gateway
// calls GET /sns/oauth2/refresh_token?appid&grant_type=refresh_token&
// refresh_token=<kept> once and reads the profile with the new token.
func TestAcceptanceWeixinOAuthReplaceAndRefresh(t *testing.T) {
	w := qaStartWeixin(t)
	_, m1, _ := qaPost(t, w.base+"/wx/h5/oauth/code2Session", `{"code":"qarep.1"}`)
	_, m2, raw := qaPost(t, w.base+"/wx/h5/oauth/code2Session", `{"code":"qarep.2"}`)
	openid := qaStr(m2, "openid")
	if openid == "" || openid != qaStr(m1, "openid") {
		t.Fatalf("two logins of the same user: %v / %s", m1, raw)
	}
	second := w.proxy.last(t, "/sns/oauth2/access_token")
	token2, refresh2 := qaJSONField(second.RespBody, "access_token"), qaJSONField(second.RespBody, "refresh_token")

	status, m, raw := qaPost(t, w.base+"/wx/h5/oauth/getUserInfo", `{"openid":"`+openid+`"}`)
	qaWant(t, "getUserInfo", status, m, raw, 200, 0)
	if got := w.proxy.last(t, "/sns/userinfo").Query.Get("access_token"); got != token2 {
		t.Errorf("getUserInfo used %.10s…, want the token of the later login", got)
	}

	resp, err := testClient.Post("http://"+w.emu+"/_emulator/weixin/expire_user_tokens?appid="+qaOA, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	infoBefore := w.proxy.count("/sns/userinfo")
	status, m, raw = qaPost(t, w.base+"/wx/h5/oauth/getUserInfo", `{"openid":"`+openid+`"}`)
	qaWant(t, "getUserInfo after expiry", status, m, raw, 200, 0)
	refreshes := w.proxy.all("/sns/oauth2/refresh_token")
	if len(refreshes) != 1 {
		t.Fatalf("%d refresh calls, want 1", len(refreshes))
	}
	r := refreshes[0]
	keys := make([]string, 0, len(r.Query))
	for k := range r.Query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if r.Method != http.MethodGet || strings.Join(keys, ",") != "appid,grant_type,refresh_token" ||
		r.Query.Get("appid") != qaOA || r.Query.Get("grant_type") != "refresh_token" || r.Query.Get("refresh_token") != refresh2 {
		t.Errorf("refresh call %s ?%s, want GET appid=%s&grant_type=refresh_token&refresh_token=<kept> (nothing else)", r.Method, qaRedact(r.Query), qaOA)
	}
	newToken := qaJSONField(r.RespBody, "access_token")
	if got := w.proxy.last(t, "/sns/userinfo").Query.Get("access_token"); got != newToken || newToken == "" {
		t.Errorf("after the refresh /sns/userinfo got %.10s…, want the refreshed token", got)
	}
	if n := w.proxy.count("/sns/userinfo") - infoBefore; n != 2 {
		t.Errorf("%d userinfo calls for the refreshed call, want 2 (42001, then the retry)", n)
	}
	qaNoneOf(t, "getUserInfo answer", raw, append(qaUserTokens(w.proxy), qaWxSecrets...)...)
}

func qaRedact(q url.Values) string {
	c := url.Values{}
	for k, v := range q {
		if strings.Contains(k, "secret") || strings.Contains(k, "token") {
			c[k] = []string{"…"}
		} else {
			c[k] = v
		}
	}
	return c.Encode()
}

// TestAcceptanceWeixinOAuthRefreshAheadOfExpiry: a kept user token past its
// expires_in is refreshed before /sns/userinfo is called (the emulator's
// user tokens live 1 s here).
func TestAcceptanceWeixinOAuthRefreshAheadOfExpiry(t *testing.T) {
	w := qaStartWeixin(t)
	status, m, raw := qaPost(t, w.base+"/wxshort/h5/oauth/code2Session", `{"code":"qashort.1"}`)
	if !qaWant(t, "code2Session", status, m, raw, 200, 0) {
		return
	}
	// A 1 s token is within the gateway's refresh margin at once.
	status, m, raw = qaPost(t, w.base+"/wxshort/h5/oauth/getUserInfo", `{"openid":"`+qaStr(m, "openid")+`"}`)
	qaWant(t, "getUserInfo", status, m, raw, 200, 0)
	if r, u := w.short.count("/sns/oauth2/refresh_token"), w.short.count("/sns/userinfo"); r != 1 || u != 1 {
		t.Errorf("refresh %d, userinfo %d; want 1 and 1 (a token past its expires_in refreshed before use)", r, u)
	}
}

// TestAcceptanceWeixinOAuthExposeUserToken: with expose_user_token, the login
// answers the very tokens WeChat gave and their life, and getUserInfo with
// the caller's accessToken calls /sns/userinfo with that token.
func TestAcceptanceWeixinOAuthExposeUserToken(t *testing.T) {
	w := qaStartWeixin(t)
	status, m1, raw := qaPost(t, w.base+"/wxexp/web/oauth/code2Session", `{"code":"qaexp.1"}`)
	qaWant(t, "code2Session", status, m1, raw, 200, 0)
	e := w.proxy.last(t, "/sns/oauth2/access_token")
	if qaStr(m1, "accessToken") != qaJSONField(e.RespBody, "access_token") || qaStr(m1, "refreshToken") != qaJSONField(e.RespBody, "refresh_token") ||
		fmt.Sprint(m1["expiresIn"]) != qaJSONField(e.RespBody, "expires_in") || qaStr(m1, "accessToken") == "" {
		t.Errorf("expose_user_token answer %s, WeChat's %s", raw, e.RespBody)
	}
	qaNoneOf(t, "code2Session answer", raw, qaWxSecrets...)
	_, m2, _ := qaPost(t, w.base+"/wxexp/web/oauth/code2Session", `{"code":"qaexp.2"}`)
	// The caller passes the first login's token: that one is used, not the kept (second) one.
	status, m, raw := qaPost(t, w.base+"/wxexp/web/oauth/getUserInfo", `{"openid":"`+qaStr(m2, "openid")+`","accessToken":"`+qaStr(m1, "accessToken")+`"}`)
	qaWant(t, "getUserInfo with the caller's token", status, m, raw, 200, 0)
	if got := w.proxy.last(t, "/sns/userinfo").Query.Get("access_token"); got != qaStr(m1, "accessToken") {
		t.Errorf("getUserInfo with accessToken used %.10s…, want the caller's", got)
	}
}

// ---------------------------------------------------------------------------
// §2b: h5.jssdk.getConfig.

var qaNonceRE = regexp.MustCompile(`^[A-Za-z0-9]{16,32}$`)

func qaTicket(t *testing.T, emu, appid string) string {
	t.Helper()
	resp, err := testClient.Get("http://" + emu + "/_emulator/weixin/jsapi_ticket?appid=" + appid)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ticket := qaJSONField(raw, "ticket")
	if resp.StatusCode != 200 || ticket == "" {
		t.Fatalf("jsapi_ticket hook: %d %s", resp.StatusCode, raw)
	}
	return ticket
}

// qaCheckConfig checks a getConfig answer: shape, types, and WeChat's
// signature (computed here) over signed with the emulator's ticket.
func qaCheckConfig(t *testing.T, w *qaWx, appid string, status int, m map[string]any, raw []byte, signed string) {
	t.Helper()
	if !qaWant(t, "getConfig "+signed, status, m, raw, 200, 0) {
		return
	}
	if got := strings.Join(qaKeys(m), ","); got != "appId,errCode,errMsg,nonceStr,signature,timestamp,url" {
		t.Errorf("getConfig keys %s: %s", got, raw)
	}
	ts, ok := m["timestamp"].(json.Number)
	sec, err := ts.Int64()
	if !ok || err != nil || sec < time.Now().Unix()-120 || sec > time.Now().Unix()+120 {
		t.Errorf("timestamp %#v is not a JSON number of unix seconds now: %s", m["timestamp"], raw)
	}
	nonce := qaStr(m, "nonceStr")
	if !qaNonceRE.MatchString(nonce) {
		t.Errorf("nonceStr %q is not 16–32 letters and digits", nonce)
	}
	if m["errMsg"] != "ok" || qaStr(m, "appId") != appid || qaStr(m, "url") != signed {
		t.Errorf("getConfig answer %s, want appId %s and url %q", raw, appid, signed)
	}
	ticket := qaTicket(t, w.emu, appid)
	sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonce + "&timestamp=" + ts.String() + "&url=" + signed))
	if want := hex.EncodeToString(sum[:]); qaStr(m, "signature") != want {
		t.Errorf("signature %s, want %s (sha1 over url %q)", m["signature"], want, signed)
	}
	qaNoneOf(t, "getConfig answer", raw, ticket)
}

// TestAcceptanceJSSDKGetConfig: the answer's shape and signature, the url cut at
// its first # and otherwise signed exactly as given, a new nonce per call,
// GET with a query, the getticket request, and the refused urls.
func TestAcceptanceJSSDKGetConfig(t *testing.T) {
	w := qaStartWeixin(t)
	get := func(page any) (int, map[string]any, []byte) {
		return qaPost(t, w.base+"/wx/h5/jssdk/getConfig", qaJSON(map[string]any{"url": page}))
	}
	for page, signed := range map[string]string{
		"https://h5.example.com/shop/?a=1&b=%E4%B8%AD#/cart#x":           "https://h5.example.com/shop/?a=1&b=%E4%B8%AD",
		"http://mp.weixin.qq.com?params=value":                           "http://mp.weixin.qq.com?params=value",
		"http://mp.weixin.qq.com":                                        "http://mp.weixin.qq.com",
		"https://H5.Example.COM:443/a/../b/%7Euser/?q=a+b&x=%2F&y=中文":    "https://H5.Example.COM:443/a/../b/%7Euser/?q=a+b&x=%2F&y=中文",
		"https://h5.example.com/p?#":                                     "https://h5.example.com/p?",
		"https://h5.example.com/#/pages/a?x=1":                           "https://h5.example.com/",
		"http://h5.example.com#":                                         "http://h5.example.com",
		"https://h5.example.com/p?redirect=https%3A%2F%2Fx.y%2F%3Fa%3D1": "https://h5.example.com/p?redirect=https%3A%2F%2Fx.y%2F%3Fa%3D1",
	} {
		status, m, raw := get(page)
		qaCheckConfig(t, w, qaOA, status, m, raw, signed)
	}
	// A new nonce for each call.
	_, a, _ := get("https://h5.example.com/n")
	_, b, _ := get("https://h5.example.com/n")
	if qaStr(a, "nonceStr") == "" || a["nonceStr"] == b["nonceStr"] {
		t.Errorf("two calls, nonceStr %v and %v", a["nonceStr"], b["nonceStr"])
	}
	// GET with query parameters is the same call.
	status, m, raw := qaDo(t, http.MethodGet, w.base+"/wx/h5/jssdk/getConfig?url="+url.QueryEscape("https://h5.example.com/g?x=1#frag"), "", "")
	qaCheckConfig(t, w, qaOA, status, m, raw, "https://h5.example.com/g?x=1")

	// One getticket: GET with the official account's token and type=jsapi.
	tickets := w.proxy.all("/cgi-bin/ticket/getticket")
	if len(tickets) != 1 {
		t.Fatalf("%d getticket calls, want 1", len(tickets))
	}
	oaToken := ""
	for _, e := range append(w.proxy.all("/cgi-bin/stable_token"), w.proxy.all("/cgi-bin/token")...) {
		if strings.Contains(string(e.ReqBody)+e.Query.Get("appid"), qaOA) {
			oaToken = qaJSONField(e.RespBody, "access_token")
		}
	}
	if g := tickets[0]; g.Method != http.MethodGet || g.Query.Get("type") != "jsapi" || g.Query.Get("access_token") != oaToken || oaToken == "" {
		t.Errorf("getticket %s ?%s, want GET access_token=<the official account's token>&type=jsapi", g.Method, qaRedact(g.Query))
	}

	// Refused urls: 400 naming url, without fetching anything.
	before := w.proxy.count("")
	for _, page := range []any{nil, "", "/relative", "h5.example.com/p", "ftp://h5.example.com/", "javascript:alert(1)",
		"https://", "https:///path", "//h5.example.com/p", "mailto:a@example.com", 42, true, map[string]any{"href": "https://h5.example.com/"}} {
		status, m, raw := get(page)
		if qaWant(t, fmt.Sprintf("url %#v", page), status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "url") {
			t.Errorf("url %#v: errMsg %q does not name url", page, m["errMsg"])
		}
	}
	status, m, raw = qaPost(t, w.base+"/wx/h5/jssdk/getConfig", `{}`)
	if qaWant(t, "no url", status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "url") {
		t.Errorf("no url: errMsg %q", m["errMsg"])
	}
	if n := w.proxy.count("") - before; n != 0 {
		t.Errorf("%d provider calls for refused urls", n)
	}
	logs, _ := os.ReadFile(w.logFile)
	qaNoneOf(t, "the log", logs, qaTicket(t, w.emu, qaOA), oaToken)

	// The emulator's getticket: 40001 for a bad token.
	if _, _, raw := qaDo(t, http.MethodGet, "http://"+w.emu+"/cgi-bin/ticket/getticket?access_token=qa-bogus&type=jsapi", "", ""); qaJSONField(raw, "errcode") != "40001" {
		t.Errorf("emulator getticket with a bad token: %s", raw)
	}
}

// TestAcceptanceJSSDKTicketErrors: getticket errors. Another errcode: 502
// UNICLOUD_TOKEN_UNAVAILABLE naming jsapi_ticket and the errcode, no
// retry; 40001 on the retry too: 502 after one token refresh; 40014 once:
// the token is refreshed and the call succeeds; 42001 (an expired token,
// made by the emulator's hook): the same.
func TestAcceptanceJSSDKTicketErrors(t *testing.T) {
	w := qaStartWeixin(t)
	getConfig := func() (int, map[string]any, []byte) {
		return qaPost(t, w.base+"/wx/h5/jssdk/getConfig", `{"url":"https://h5.example.com/t"}`)
	}
	tokenFetches := func(appid string) int {
		n := 0
		for _, e := range append(w.proxy.all("/cgi-bin/stable_token"), w.proxy.all("/cgi-bin/token")...) {
			if strings.Contains(string(e.ReqBody)+e.Query.Get("appid"), appid) {
				n++
			}
		}
		return n
	}
	answerTicket := func(errcode int, times int) {
		n := 0
		var mu sync.Mutex
		w.proxy.set(func(e *qaExchange) (int, []byte, bool) {
			mu.Lock()
			defer mu.Unlock()
			if e.Path != "/cgi-bin/ticket/getticket" || (times > 0 && n >= times) {
				return 0, nil, false
			}
			n++
			return 200, []byte(fmt.Sprintf(`{"errcode":%d,"errmsg":"qa injected %d"}`, errcode, errcode)), true
		}, nil)
	}
	steps := []struct {
		errcode, times       int
		status               int
		getticket, refreshes int // refreshes: 0 or 1
	}{
		{45009, 0, 502, 1, 0},
		{40001, 0, 502, 2, 1},
		{40014, 1, 200, 2, 1},
	}
	for _, s := range steps {
		answerTicket(s.errcode, s.times)
		ticketsBefore, tokensBefore := w.proxy.count("/cgi-bin/ticket/getticket"), tokenFetches(qaOA)
		status, m, raw := getConfig()
		if s.status == 502 {
			if qaWant(t, fmt.Sprintf("getticket %d", s.errcode), status, m, raw, 502, "UNICLOUD_TOKEN_UNAVAILABLE") {
				if msg := qaStr(m, "errMsg"); !strings.Contains(msg, "jsapi_ticket") || !strings.Contains(msg, strconv.Itoa(s.errcode)) {
					t.Errorf("getticket %d: errMsg %q does not name jsapi_ticket and %d", s.errcode, msg, s.errcode)
				}
			}
		} else {
			qaWant(t, fmt.Sprintf("getticket %d once", s.errcode), status, m, raw, 200, 0)
		}
		if n := w.proxy.count("/cgi-bin/ticket/getticket") - ticketsBefore; n != s.getticket {
			t.Errorf("getticket %d: %d getticket calls, want %d", s.errcode, n, s.getticket)
		}
		// A refresh means the retried getticket carries another token
		// (a stable_token call may answer the dropped token again, so the
		// number of token calls is not fixed); no refresh, no new token.
		calls := w.proxy.all("/cgi-bin/ticket/getticket")[ticketsBefore:]
		if s.refreshes == 0 && tokenFetches(qaOA)-tokensBefore > 1 {
			t.Errorf("getticket %d: the token was refreshed", s.errcode)
		}
		if s.refreshes == 1 && len(calls) == 2 && calls[0].Query.Get("access_token") == calls[1].Query.Get("access_token") {
			t.Errorf("getticket %d: retried with the token that was refused", s.errcode)
		}
	}
	w.proxy.set(nil, nil)
	if status, m, raw := getConfig(); status == 200 {
		qaCheckConfig(t, w, qaOA, status, m, raw, "https://h5.example.com/t")
	}

	// 42001: the second official account holds a token, which expires.
	qaPost(t, w.base+"/wxoa2/h5/templateMessage/send", `{"touser":"oQA","templateId":"tpl","data":{"first":{"value":"x"}}}`)
	if tokenFetches(qaOA2) != 1 {
		t.Fatalf("the second official account's token was not fetched")
	}
	resp, err := testClient.Post("http://"+w.emu+"/_emulator/weixin/expire_tokens?appid="+qaOA2, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := w.proxy.count("/cgi-bin/ticket/getticket")
	status, m, raw := qaPost(t, w.base+"/wxoa2/h5/jssdk/getConfig", `{"url":"https://h5.example.com/e"}`)
	qaCheckConfig(t, w, qaOA2, status, m, raw, "https://h5.example.com/e")
	if calls := w.proxy.all("/cgi-bin/ticket/getticket")[before:]; len(calls) != 2 || calls[0].Query.Get("access_token") == calls[1].Query.Get("access_token") {
		t.Errorf("42001: %d getticket calls, want 2 (refused, then retried with a fresh token)", len(calls))
	}
}

// ---------------------------------------------------------------------------
// §2b: payment, clientType h5-weixin and client_app_id.

func qaWxpayV2Sign(fields map[string]string, key string) string {
	var ks []string
	for k, v := range fields {
		if k != "sign" && k != "paySign" && v != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k + "=" + fields[k] + "&")
	}
	b.WriteString("key=" + key)
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestAcceptanceWxpayClientAppID: client_app_id sets the appid of each clientType
// in the order request and in orderInfo (mp-weixin, h5-weixin, app-plus,
// native), clientTypes without one use app_id (h5); calls that name an
// order send the appid of their clientType (body or header). The whole
// official-account flow runs offline: login, JSAPI order, pay, query.
func TestAcceptanceWxpayClientAppID(t *testing.T) {
	w := qaStartWeixin(t)
	pay := w.base + "/pay/wxpay/"
	for _, tc := range []struct {
		clientType, appid, tradeType, openid string
		infoKeys                             string
	}{
		{"mp-weixin", qaWxApp2, "JSAPI", "oQAMini", "appId,nonceStr,package,paySign,signType,timeStamp"},
		{"native", qaWeb, "NATIVE", "", "codeUrl"},
		{"h5", qaWxApp, "MWEB", "", "mwebUrl"},
		{"app-plus", qaMob, "APP", "", "appid,noncestr,package,partnerid,prepayid,sign,timestamp"},
	} {
		body := map[string]any{"clientType": tc.clientType, "body": "qa", "outTradeNo": "qa-cai-" + tc.clientType, "totalFee": 3}
		if tc.openid != "" {
			body["openid"] = tc.openid
		}
		status, m, raw := qaPost(t, pay+"getOrderInfo", qaJSON(body))
		if !qaWant(t, "getOrderInfo "+tc.clientType, status, m, raw, 200, 0) {
			continue
		}
		f := qaXMLFields(w.proxy.last(t, "/pay/unifiedorder").ReqBody)
		if f["appid"] != tc.appid || f["trade_type"] != tc.tradeType || f["mch_id"] != qaMch {
			t.Errorf("%s: unifiedorder appid %s trade_type %s, want %s %s", tc.clientType, f["appid"], f["trade_type"], tc.appid, tc.tradeType)
		}
		info, _ := m["orderInfo"].(map[string]any)
		if got := strings.Join(qaKeys(info), ","); got != tc.infoKeys {
			t.Errorf("%s: orderInfo keys %s, want %s", tc.clientType, got, tc.infoKeys)
		}
		if v := info["appId"]; v != nil && v != tc.appid {
			t.Errorf("%s: orderInfo appId %v, want %s", tc.clientType, v, tc.appid)
		}
		if v := info["appid"]; v != nil && v != tc.appid {
			t.Errorf("%s: orderInfo appid %v, want %s", tc.clientType, v, tc.appid)
		}
	}

	// The official-account page: login, then a JSAPI order for that openid.
	_, login, _ := qaPost(t, w.base+"/wx/h5/oauth/code2Session", `{"code":"qapayer.1"}`)
	openid := qaStr(login, "openid")
	status, m, raw := qaPost(t, pay+"getOrderInfo", `{"openid":"`+openid+`","body":"qa","outTradeNo":"qa-oa-1","totalFee":1}`, "X-Unicloud-Client-Type", "h5-weixin")
	if qaWant(t, "getOrderInfo h5-weixin", status, m, raw, 200, 0) {
		info := map[string]string{}
		if im, ok := m["orderInfo"].(map[string]any); ok {
			for k, v := range im {
				info[k], _ = v.(string)
			}
		}
		ts, err := strconv.ParseInt(info["timeStamp"], 10, 64)
		if info["appId"] != qaOA || !strings.HasPrefix(info["package"], "prepay_id=") || info["signType"] != "MD5" ||
			err != nil || ts < time.Now().Unix()-120 || ts > time.Now().Unix()+120 || info["nonceStr"] == "" {
			t.Errorf("h5-weixin orderInfo %s", raw)
		}
		signed := map[string]string{}
		for _, k := range []string{"appId", "nonceStr", "package", "signType", "timeStamp"} {
			signed[k] = info[k]
		}
		if want := qaWxpayV2Sign(signed, qaMchKey); info["paySign"] != want {
			t.Errorf("paySign %s, want %s (MD5 with the key over the five fields)", info["paySign"], want)
		}
		f := qaXMLFields(w.proxy.last(t, "/pay/unifiedorder").ReqBody)
		if f["appid"] != qaOA || f["trade_type"] != "JSAPI" || f["openid"] != openid {
			t.Errorf("unifiedorder %v", f)
		}
		qaNoneOf(t, "getOrderInfo answer", raw, qaMchKey)
	}
	resp, err := testClient.Post("http://"+w.emu+"/_emulator/wxpay/pay?out_trade_no=qa-oa-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status, m, raw = qaPost(t, pay+"orderQuery", `{"outTradeNo":"qa-oa-1","clientType":"h5-weixin"}`)
	if qaWant(t, "orderQuery", status, m, raw, 200, 0) && m["tradeState"] != "SUCCESS" {
		t.Errorf("orderQuery after paying: %s", raw)
	}

	// Calls that name an order send the appid of their clientType.
	for _, tc := range []struct {
		call, body, header, path, appid string
	}{
		{"closeOrder", `{"outTradeNo":"qa-cai-native"}`, "h5-weixin", "/pay/closeorder", qaOA},
		{"closeOrder", `{"outTradeNo":"qa-cai-native","clientType":"native"}`, "", "/pay/closeorder", qaWeb},
		{"closeOrder", `{"outTradeNo":"qa-cai-h5"}`, "", "/pay/closeorder", qaWxApp},
		{"refundQuery", `{"outTradeNo":"qa-oa-1","clientType":"h5-weixin"}`, "", "/pay/refundquery", qaOA},
		{"refundQuery", `{"outTradeNo":"qa-cai-app-plus"}`, "app-plus", "/pay/refundquery", qaMob},
		{"orderQuery", `{"outTradeNo":"qa-cai-mp-weixin","clientType":"mp-weixin"}`, "", "/pay/orderquery", qaWxApp2},
	} {
		var hdr []string
		if tc.header != "" {
			hdr = []string{"X-Unicloud-Client-Type", tc.header}
		}
		before := w.proxy.count(tc.path)
		qaPost(t, pay+tc.call, tc.body, hdr...)
		if w.proxy.count(tc.path) == before {
			t.Errorf("%s %s: nothing sent to %s", tc.call, tc.body, tc.path)
			continue
		}
		if got := qaXMLFields(w.proxy.last(t, tc.path).ReqBody)["appid"]; got != tc.appid {
			t.Errorf("%s %s (header %q): appid %s sent, want %s", tc.call, tc.body, tc.header, got, tc.appid)
		}
	}
}

// TestAcceptanceWxpayClientAppIDConfig: client_app_id takes one of the five
// clientTypes and an appid; anything else does not load.
func TestAcceptanceWxpayClientAppIDConfig(t *testing.T) {
	dir := t.TempDir()
	block := func(line string) string {
		return globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://127.0.0.1:1 {
	unicloud_payment wxpay {
		app_id %s
		mch_id %s
		key %s
		%s
		endpoint http://127.0.0.1:1
	}
}
`, qaWxApp, qaMch, qaMchKey, line)
	}
	if err := qaValidate(t, block("client_app_id h5-weixin "+qaOA+"\n\t\tclient_app_id h5 "+qaMob+"\n\t\tclient_app_id native "+qaWeb)); err != nil {
		t.Errorf("a valid client_app_id config: %v", err)
	}
	for _, line := range []string{"client_app_id mp-alipay " + qaOA, "client_app_id weixin " + qaOA, "client_app_id h5-weixin"} {
		if err := qaValidate(t, block(line)); err == nil || !strings.Contains(err.Error(), "client_app_id") {
			t.Errorf("%q: %v, want a refusal naming client_app_id", line, err)
		}
	}
}
