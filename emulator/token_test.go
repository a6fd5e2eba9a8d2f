package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStableToken(t *testing.T) {
	s, clock := newTestServer(t)
	tok, ttl := stableToken(t, s, testApp, testSecret, false)
	if ttl != 7200 {
		t.Errorf("expires_in = %d, want 7200", ttl)
	}
	if len(tok) < 130 {
		t.Errorf("token has %d characters, want WeChat's ~136", len(tok))
	}
	clock.Add(1000 * time.Second)
	again, ttl := stableToken(t, s, testApp, testSecret, false)
	if again != tok || ttl != 6200 {
		t.Errorf("second call: same token %v, expires_in %d; want the same token with 6200", again == tok, ttl)
	}
	if got := probe(t, s, tok); got != 0 {
		t.Fatalf("current token: errcode %d", got)
	}

	// Another app has its own token.
	other, _ := stableToken(t, s, testApp2, testSecret2, false)
	if other == tok {
		t.Error("two apps share a token")
	}

	// force_refresh: a new token; the old one works during the grace only.
	fresh, ttl := stableToken(t, s, testApp, testSecret, true)
	if fresh == tok || ttl != 7200 {
		t.Fatalf("force_refresh: new token %v, expires_in %d", fresh != tok, ttl)
	}
	clock.Add(testGrace - time.Second)
	if got := probe(t, s, tok); got != 0 {
		t.Errorf("old token within grace: errcode %d, want 0", got)
	}
	clock.Add(time.Second)
	if got := probe(t, s, tok); got != 40001 {
		t.Errorf("old token after grace: errcode %d, want 40001", got)
	}
	if got := probe(t, s, fresh); got != 0 {
		t.Errorf("new token: errcode %d, want 0", got)
	}

	st := s.Stats()
	if got := st.TokenIssues[testApp]; got != (TokenIssues{Stable: 3}) {
		t.Errorf("token issues of %s = %+v, want 3 stable", testApp, got)
	}
	if st.Calls["/cgi-bin/stable_token"] != 4 {
		t.Errorf("stable_token calls = %d, want 4", st.Calls["/cgi-bin/stable_token"])
	}
}

func TestClassicToken(t *testing.T) {
	s, clock := newTestServer(t)
	first := classicToken(t, s, testApp, testSecret)
	stable, _ := stableToken(t, s, testApp, testSecret, false)
	clock.Add(time.Minute)
	second := classicToken(t, s, testApp, testSecret)
	if first == second {
		t.Fatal("/cgi-bin/token answered the same token twice")
	}
	clock.Add(testGrace - time.Second)
	if got := probe(t, s, first); got != 0 {
		t.Errorf("replaced token within grace: errcode %d, want 0", got)
	}
	clock.Add(time.Second)
	if got := probe(t, s, first); got != 40001 {
		t.Errorf("replaced token after grace: errcode %d, want 40001", got)
	}
	for name, tok := range map[string]string{"new classic": second, "stable": stable} {
		if got := probe(t, s, tok); got != 0 {
			t.Errorf("%s token: errcode %d, want 0 (classic and stable tokens are independent)", name, got)
		}
	}
	if got := s.Stats().TokenIssues[testApp]; got != (TokenIssues{Stable: 1, Classic: 2}) {
		t.Errorf("token issues = %+v", got)
	}
}

func TestTokenExpiry(t *testing.T) {
	s, clock := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	clock.Add(testTTL - time.Second)
	if got := probe(t, s, tok); got != 0 {
		t.Fatalf("errcode %d before expiry", got)
	}
	clock.Add(time.Second)
	if got := probe(t, s, tok); got != 42001 {
		t.Errorf("expired token: errcode %d, want 42001", got)
	}
	fresh, ttl := stableToken(t, s, testApp, testSecret, false)
	if fresh == tok || ttl != 7200 {
		t.Errorf("after expiry stable_token gave the old token (%v) or expires_in %d", fresh == tok, ttl)
	}
}

func TestRevokeAndExpireTokens(t *testing.T) {
	s, _ := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	classic := classicToken(t, s, testApp, testSecret)
	other, _ := stableToken(t, s, testApp2, testSecret2, false)

	s.RevokeTokens(testApp)
	for _, tk := range []string{tok, classic} {
		if got := probe(t, s, tk); got != 40001 {
			t.Errorf("revoked token: errcode %d, want 40001", got)
		}
	}
	if got := probe(t, s, other); got != 0 {
		t.Errorf("another app's token: errcode %d, want 0", got)
	}
	fresh, _ := stableToken(t, s, testApp, testSecret, false)
	if fresh == tok || probe(t, s, fresh) != 0 {
		t.Error("no working new token after RevokeTokens")
	}

	s.ExpireTokens(testApp)
	if got := probe(t, s, fresh); got != 42001 {
		t.Errorf("expired token: errcode %d, want 42001", got)
	}

	// The same through the hooks.
	tok2, _ := stableToken(t, s, testApp2, testSecret2, false)
	w := do(s, http.MethodPost, "/_emulator/weixin/expire_tokens?appid="+testApp2, nil, "")
	wantErrcode(t, decode(t, w), 0)
	if got := probe(t, s, tok2); got != 42001 {
		t.Errorf("after expire hook: errcode %d, want 42001", got)
	}
	tok3, _ := stableToken(t, s, testApp2, testSecret2, false)
	wantErrcode(t, decode(t, do(s, http.MethodPost, "/_emulator/weixin/revoke_tokens?appid="+testApp2, nil, "")), 0)
	if got := probe(t, s, tok3); got != 40001 {
		t.Errorf("after revoke hook: errcode %d, want 40001", got)
	}
	if w := do(s, http.MethodPost, "/_emulator/weixin/revoke_tokens?appid=wxunknown", nil, ""); w.Code != http.StatusNotFound {
		t.Errorf("revoke of an unknown app: HTTP %d", w.Code)
	}
	// Hooks are not provider calls.
	if n := s.Stats().Calls["/_emulator/weixin/revoke_tokens"]; n != 0 {
		t.Errorf("hook counted as a call: %d", n)
	}
}

func TestTokenErrors(t *testing.T) {
	s, _ := newTestServer(t)
	stable := func(body map[string]any) map[string]any { return postJSON(t, s, "/cgi-bin/stable_token", body) }
	classic := func(q url.Values) map[string]any { return getJSON(t, s, "/cgi-bin/token?"+q.Encode()) }
	cc := "client_credential"
	cases := []struct {
		name string
		got  map[string]any
		want int
	}{
		{"stable wrong secret", stable(map[string]any{"grant_type": cc, "appid": testApp, "secret": "nope"}), 40125},
		{"stable unknown appid", stable(map[string]any{"grant_type": cc, "appid": "wxunknown", "secret": "x"}), 40013},
		{"stable no grant_type", stable(map[string]any{"appid": testApp, "secret": testSecret}), 40002},
		{"stable no appid", stable(map[string]any{"grant_type": cc, "secret": testSecret}), 41002},
		{"stable no secret", stable(map[string]any{"grant_type": cc, "appid": testApp}), 41004},
		{"stable force_refresh as text", stable(map[string]any{"grant_type": cc, "appid": testApp, "secret": testSecret, "force_refresh": "true"}), 47001},
		{"stable by GET", getJSON(t, s, "/cgi-bin/stable_token"), 43002},
		{"classic wrong secret", classic(url.Values{"grant_type": {cc}, "appid": {testApp}, "secret": {"nope"}}), 40125},
		{"classic unknown appid", classic(url.Values{"grant_type": {cc}, "appid": {"wxunknown"}, "secret": {"x"}}), 40013},
		{"classic no grant_type", classic(url.Values{"appid": {testApp}, "secret": {testSecret}}), 40002},
		{"no access_token", postJSON(t, s, "/wxa/msg_sec_check", map[string]any{"content": "hi"}), 41001},
		{"unknown access_token", postJSON(t, s, "/wxa/msg_sec_check?access_token=86_nope", map[string]any{"content": "hi"}), 40001},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErrcode(t, c.got, c.want) })
	}
	m := stable(map[string]any{"grant_type": cc, "appid": testApp, "secret": "nope"})
	if msg := m["errmsg"].(string); !strings.HasPrefix(msg, "invalid appsecret") || strings.Contains(msg, testSecret) {
		t.Errorf("errmsg = %q", msg)
	}
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	m = postJSON(t, s, "/wxa/msg_sec_check?access_token=nope"+tok[4:], map[string]any{"content": "hi"})
	if msg := m["errmsg"].(string); !strings.HasPrefix(msg, "invalid credential, access_token is invalid or not latest") {
		t.Errorf("40001 errmsg = %q", msg)
	}
	if got := s.Stats().TokenIssues[testApp]; got != (TokenIssues{Stable: 1}) {
		t.Errorf("failed token calls were counted as issues: %+v", got)
	}
}

func TestAudience(t *testing.T) {
	s, _ := newTestServer(t)
	mini, _ := stableToken(t, s, testApp, testSecret, false)
	oa, _ := stableToken(t, s, testOA, testOASecret, false)
	msg := map[string]any{"touser": "oUser", "template_id": "tpl", "data": map[string]any{"first": map[string]any{"value": "hi"}}}
	wantErrcode(t, postJSON(t, s, "/cgi-bin/message/template/send?access_token="+mini, msg), 48001)
	wantErrcode(t, postJSON(t, s, "/cgi-bin/message/template/send?access_token="+oa, msg), 0)
	wantErrcode(t, postJSON(t, s, "/wxa/getwxacodeunlimit?access_token="+oa, map[string]any{"scene": "a=1"}), 48001)
	// Both kinds may use customer-service messages.
	wantErrcode(t, postJSON(t, s, "/cgi-bin/message/custom/typing?access_token="+oa, map[string]any{"touser": "oUser", "command": "Typing"}), 0)
	// An official account has no mini-program login.
	wantErrcode(t, getJSON(t, s, "/sns/jscode2session?appid="+testOA+"&secret="+testOASecret+"&js_code=abc&grant_type=authorization_code"), 40013)
}

func TestUnknownPath(t *testing.T) {
	s, _ := newTestServer(t)
	w := do(s, http.MethodGet, "/cgi-bin/nope", nil, "")
	if w.Code != http.StatusNotFound {
		t.Errorf("HTTP %d, want 404", w.Code)
	}
	wantErrcode(t, decode(t, w), -1)
	do(s, http.MethodGet, "/cgi-bin/nope-2", nil, "")
	if st := s.Stats().Calls; st[UnknownPaths] != 2 || st["/cgi-bin/nope"] != 0 {
		t.Errorf("unknown paths not counted together: %v", st)
	}
}

func TestConcurrentCalls(t *testing.T) {
	s, clock := newTestServer(t)
	stableBody := mustJSON(map[string]any{"grant_type": "client_credential", "appid": testApp, "secret": testSecret})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				w := do(s, http.MethodPost, "/cgi-bin/stable_token", bytes.NewReader(stableBody), "application/json")
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				json.Unmarshal(w.Body.Bytes(), &tok)
				do(s, http.MethodPost, "/cgi-bin/message/custom/typing?access_token="+tok.AccessToken,
					strings.NewReader(`{"touser":"o","command":"Typing"}`), "application/json")
				do(s, http.MethodGet, "/sns/jscode2session?appid="+testApp+"&secret="+testSecret+"&js_code=user"+strconv.Itoa(i)+"."+strconv.Itoa(j), nil, "")
				switch j % 7 {
				case 0:
					s.ExpireTokens(testApp)
				case 3:
					s.RevokeTokens(testApp)
				case 5:
					clock.Add(time.Minute)
				}
				s.Stats()
			}
		}(i)
	}
	wg.Wait()
	if n := s.Stats().TokenIssues[testApp].Stable; n != 160 {
		t.Errorf("stable token answers = %d, want 160", n)
	}
}

// As WeChat's stable_token: a call in the token's last five minutes gets the
// next token, and the current one keeps working until it expires.
func TestStableTokenRenewedInItsLastMinutes(t *testing.T) {
	s, clock := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	clock.Add(7200*time.Second - 5*time.Minute - time.Second)
	if again, _ := stableToken(t, s, testApp, testSecret, false); again != tok {
		t.Fatal("a new token before the last five minutes")
	}
	clock.Add(2 * time.Second)
	next, ttl := stableToken(t, s, testApp, testSecret, false)
	if next == tok || ttl != 7200 {
		t.Fatalf("in the last five minutes: new token %v, expires_in %d", next != tok, ttl)
	}
	clock.Add(4 * time.Minute)
	if got := probe(t, s, tok); got != 0 {
		t.Errorf("the previous token before its expiry: errcode %d, want 0", got)
	}
	clock.Add(time.Minute)
	if got := probe(t, s, tok); got != 42001 {
		t.Errorf("the previous token after its expiry: errcode %d, want 42001", got)
	}
	if got := probe(t, s, next); got != 0 {
		t.Errorf("the next token: errcode %d", got)
	}
}
