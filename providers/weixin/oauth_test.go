package weixin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func newUserTokens(t *testing.T, st Storage, c *clock) *UserTokens {
	t.Helper()
	s, err := NewUserTokens(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.now = c.now
	return s
}

// A user token is kept in memory, read back by another store sharing the
// storage (another instance), absent past its keep-until, and gone after
// Delete; the key separates endpoints, apps and openids.
func TestUserTokensMemoryStorageExpiry(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	login := newUserTokens(t, st, c)
	login.KeepFor = 24 * time.Hour
	tok := UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1", Scope: "snsapi_userinfo", ExpiresAt: c.now().Add(2 * time.Hour)}
	login.Put(ctx, "https://e", "wxoa", "openid-1", tok)

	if got, ok := login.Get(ctx, "https://e", "wxoa", "openid-1"); !ok || got != tok {
		t.Fatalf("memory: Get = %+v, %v", got, ok)
	}
	for _, k := range [][3]string{{"https://other", "wxoa", "openid-1"}, {"https://e", "wxweb", "openid-1"}, {"https://e", "wxoa", "openid-2"}} {
		if _, ok := login.Get(ctx, k[0], k[1], k[2]); ok {
			t.Fatalf("%v found another key's token", k)
		}
	}
	for _, tc := range []struct {
		after time.Duration
		found bool
	}{{0, true}, {24*time.Hour - time.Second, true}, {24 * time.Hour, false}, {40 * 24 * time.Hour, false}} {
		saved := c.now()
		c.add(tc.after)
		other := newUserTokens(t, st, c) // nothing in memory, only the storage
		got, ok := other.Get(ctx, "https://e", "wxoa", "openid-1")
		if ok != tc.found || (ok && got != tok) {
			t.Fatalf("after %v: Get = %+v, %v; want found %v", tc.after, got, ok, tc.found)
		}
		c.mu.Lock()
		c.t = saved
		c.mu.Unlock()
	}
	login.Delete(ctx, "https://e", "wxoa", "openid-1")
	if _, ok := login.Get(ctx, "https://e", "wxoa", "openid-1"); ok {
		t.Fatal("found after Delete (memory)")
	}
	if _, ok := newUserTokens(t, st, c).Get(ctx, "https://e", "wxoa", "openid-1"); ok {
		t.Fatal("found after Delete (storage)")
	}
	if !login.Expired(UserToken{ExpiresAt: c.now().Add(login.Margin)}) || login.Expired(UserToken{ExpiresAt: c.now().Add(login.Margin + time.Second)}) {
		t.Fatal("Expired does not honour the margin")
	}
}

// oauthUpstream is a local WeChat for UserInfo: userinfo accepts only
// validToken, refresh_token answers refreshAnswer.
type oauthUpstream struct {
	mu            sync.Mutex
	validToken    string
	refreshAnswer string
	userinfo      int
	refreshes     int
	srv           *httptest.Server
	// userinfoSeen, when set, is told of each userinfo request; a refresh
	// then waits for holdRefresh to close.
	userinfoSeen chan struct{}
	holdRefresh  chan struct{}
}

func newOAuthUpstream(t *testing.T) *oauthUpstream {
	u := &oauthUpstream{validToken: "user-at-2", refreshAnswer: `{"access_token":"user-at-2","expires_in":7200,"refresh_token":"user-rt-2","openid":"openid-1","scope":"snsapi_userinfo"}`}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path == "/sns/oauth2/refresh_token" && u.holdRefresh != nil {
			<-u.holdRefresh
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if r.URL.Path == "/sns/userinfo" && u.userinfoSeen != nil {
			defer func() { u.userinfoSeen <- struct{}{} }()
		}
		switch r.URL.Path {
		case "/sns/userinfo":
			u.userinfo++
			if q.Get("access_token") != u.validToken {
				_, _ = io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
				return
			}
			_, _ = fmt.Fprintf(w, `{"openid":%q,"nickname":"Mei","headimgurl":"https://x/y.png","privilege":[]}`, q.Get("openid"))
		case "/sns/oauth2/refresh_token":
			u.refreshes++
			if q.Get("appid") != "wxoa" || q.Get("grant_type") != "refresh_token" || q.Get("refresh_token") != "user-rt-1" {
				_, _ = io.WriteString(w, `{"errcode":40030,"errmsg":"invalid refresh_token"}`)
				return
			}
			_, _ = io.WriteString(w, u.refreshAnswer)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *oauthUpstream) counts() (userinfo, refreshes int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.userinfo, u.refreshes
}

// UserInfo uses the kept token; an expired or refused one is refreshed
// exactly once and the new one kept; a refused refresh drops the tokens
// and answers WeChat's errcode; no kept token is ErrUserTokenNotFound
// without a provider call.
func TestUserInfoRefreshOnce(t *testing.T) {
	ctx := context.Background()
	app := App{ID: "wxoa", Secret: "oa-secret-0123456789"}
	for _, tc := range []struct {
		name          string
		kept          *UserToken
		refreshAnswer string
		validToken    string
		wantErrCode   int64
		wantNotFound  bool
		wantCalls     [2]int // userinfo, refresh
		wantKept      string // access token kept after; "" none
		wantRefreshed bool
	}{
		{name: "valid", kept: &UserToken{AccessToken: "user-at-2", RefreshToken: "user-rt-1"}, wantCalls: [2]int{1, 0}, wantKept: "user-at-2"},
		{name: "expired: refreshed before use", kept: &UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1", ExpiresAt: time.Unix(1, 0)}, wantCalls: [2]int{1, 1}, wantKept: "user-at-2", wantRefreshed: true},
		{name: "refused: refreshed once", kept: &UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1"}, wantCalls: [2]int{2, 1}, wantKept: "user-at-2", wantRefreshed: true},
		{name: "refused after refresh: no second refresh", kept: &UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1"}, validToken: "nothing", wantErrCode: 40001, wantCalls: [2]int{2, 1}, wantKept: "user-at-2", wantRefreshed: true},
		{name: "refresh refused: dropped", kept: &UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1"}, refreshAnswer: `{"errcode":42002,"errmsg":"refresh_token expired"}`, wantErrCode: 42002, wantCalls: [2]int{1, 1}, wantRefreshed: true},
		{name: "none kept", wantNotFound: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newOAuthUpstream(t)
			if tc.refreshAnswer != "" {
				u.refreshAnswer = tc.refreshAnswer
			}
			if tc.validToken != "" {
				u.validToken = tc.validToken
			}
			c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
			tokens := newUserTokens(t, nil, c)
			cl := &Client{Endpoint: u.srv.URL}
			if tc.kept != nil {
				k := *tc.kept
				if k.ExpiresAt.IsZero() {
					k.ExpiresAt = c.now().Add(time.Hour)
				}
				tokens.Put(ctx, cl.endpoint(), app.ID, "openid-1", k)
			}
			ans, res, err := cl.UserInfo(ctx, tokens, app, "openid-1", "zh_CN")
			if tc.wantNotFound {
				if err != ErrUserTokenNotFound {
					t.Fatalf("err = %v; want ErrUserTokenNotFound", err)
				}
			} else if err != nil || ans.ErrCode != tc.wantErrCode {
				t.Fatalf("UserInfo = %+v, %v; want errcode %d", ans, err, tc.wantErrCode)
			}
			if ui, rf := u.counts(); [2]int{ui, rf} != tc.wantCalls {
				t.Fatalf("calls (userinfo, refresh) = %d, %d; want %v", ui, rf, tc.wantCalls)
			}
			if res.Refreshed != tc.wantRefreshed {
				t.Fatalf("Refreshed = %v", res.Refreshed)
			}
			kept, ok := tokens.Get(ctx, cl.endpoint(), app.ID, "openid-1")
			if kept.AccessToken != tc.wantKept || ok != (tc.wantKept != "") {
				t.Fatalf("kept %q, %v; want %q", kept.AccessToken, ok, tc.wantKept)
			}
			if ok && tc.wantRefreshed && (kept.RefreshToken != "user-rt-2" || !kept.ExpiresAt.Equal(c.now().Add(7200*time.Second))) {
				t.Fatalf("refreshed token kept as %+v", kept)
			}
		})
	}
}

// Callers that all find the kept token refused refresh it once: they
// share that one refresh (WeChat is asked once, every caller gets the new
// token's answer) instead of each spending the refresh token.
func TestUserInfoConcurrentRefreshOnce(t *testing.T) {
	ctx := context.Background()
	app := App{ID: "wxoa", Secret: "oa-secret-0123456789"}
	u := newOAuthUpstream(t)
	const callers = 8
	u.userinfoSeen = make(chan struct{}, 2*callers)
	u.holdRefresh = make(chan struct{})
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	tokens := newUserTokens(t, nil, c)
	cl := &Client{Endpoint: u.srv.URL}
	tokens.Put(ctx, cl.endpoint(), app.ID, "openid-1", UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1", ExpiresAt: c.now().Add(time.Hour)})

	type answer struct {
		ans *Answer
		err error
	}
	answers := make(chan answer, callers)
	for range callers {
		go func() {
			ans, _, err := cl.UserInfo(ctx, tokens, app, "openid-1", "zh_CN")
			answers <- answer{ans, err}
		}()
	}
	// Every caller has had its token refused before the refresh answers.
	for range callers {
		<-u.userinfoSeen
	}
	close(u.holdRefresh)
	for range callers {
		a := <-answers
		if a.err != nil || a.ans.ErrCode != 0 || !strings.Contains(string(a.ans.Body), `"nickname":"Mei"`) {
			t.Fatalf("UserInfo = %+v, %v", a.ans, a.err)
		}
	}
	if _, refreshes := u.counts(); refreshes != 1 {
		t.Fatalf("%d refreshes for %d callers of one user; want 1", refreshes, callers)
	}
}

// An instance whose memory still holds the token another instance has
// refreshed takes the new one from the shared storage when WeChat
// refuses the old one: no second refresh.
func TestUserInfoRefreshedByAnotherInstance(t *testing.T) {
	ctx := context.Background()
	app := App{ID: "wxoa", Secret: "oa-secret-0123456789"}
	u := newOAuthUpstream(t)
	st := &certmagic.FileStorage{Path: t.TempDir()}
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	a, b := newUserTokens(t, st, c), newUserTokens(t, st, c)
	cl := &Client{Endpoint: u.srv.URL}
	a.Put(ctx, cl.endpoint(), app.ID, "openid-1", UserToken{AccessToken: "user-at-1", RefreshToken: "user-rt-1", ExpiresAt: c.now().Add(time.Hour)})
	if kept, ok := b.Get(ctx, cl.endpoint(), app.ID, "openid-1"); !ok || kept.AccessToken != "user-at-1" {
		t.Fatalf("instance b: %+v, %v", kept, ok)
	}
	for _, inst := range []*UserTokens{a, b} {
		ans, _, err := cl.UserInfo(ctx, inst, app, "openid-1", "zh_CN")
		if err != nil || ans.ErrCode != 0 {
			t.Fatalf("UserInfo = %+v, %v", ans, err)
		}
	}
	if userinfo, refreshes := u.counts(); userinfo != 4 || refreshes != 1 {
		t.Fatalf("calls (userinfo, refresh) = %d, %d; want 4, 1", userinfo, refreshes)
	}
	if kept, _ := b.Get(ctx, cl.endpoint(), app.ID, "openid-1"); kept.AccessToken != "user-at-2" {
		t.Fatalf("instance b keeps %q; want the refreshed token", kept.AccessToken)
	}
}

// A refresh answer without a new refresh_token keeps the old one.
func TestUserTokenFromAnswerKeepsRefreshToken(t *testing.T) {
	start := time.Unix(1000, 0)
	prev := UserToken{AccessToken: "a", RefreshToken: "rt-old", Scope: "snsapi_base"}
	got, ok := UserTokenFromAnswer([]byte(`{"access_token":"b","expires_in":60}`), start, &prev)
	if !ok || got.AccessToken != "b" || got.RefreshToken != "rt-old" || got.Scope != "snsapi_base" || !got.ExpiresAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("got %+v, %v", got, ok)
	}
	if _, ok := UserTokenFromAnswer([]byte(`{"errcode":40029}`), start, nil); ok {
		t.Fatal("an error answer gave a token")
	}
}
