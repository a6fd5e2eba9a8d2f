package weixin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// tokenFake is a local WeChat: stable_token hands out tok-1, tok-2, …
// (a new one only when forced or after revoke), and every API call is
// answered by reject for the token it carries, or ok.
type tokenFake struct {
	mu      sync.Mutex
	issued  int
	current string
	sent    []string // access_token of each API call
	reject  map[string]int64
	refuse  int64 // errcode of stable_token, when set
}

func newTokenFake(t *testing.T) (*tokenFake, *httptest.Server) {
	f := &tokenFake{reject: map[string]int64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/cgi-bin/stable_token" || r.URL.Path == "/cgi-bin/token" {
			if f.refuse != 0 {
				_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":"refused"}`, f.refuse)
				return
			}
			if f.current == "" || f.reject[f.current] != 0 {
				f.issued++
				f.current = fmt.Sprintf("tok-%d", f.issued)
			}
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, f.current)
			return
		}
		tok := r.URL.Query().Get("access_token")
		f.sent = append(f.sent, tok)
		if code := f.reject[tok]; code != 0 {
			_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":"token rejected"}`, code)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","url_link":"https://wxaurl.cn/x"}`)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *tokenFake) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// Call retries exactly the token rejections (40001, 40014, 42001) once with
// a new token; other errors, a caller's own token and a fixed token are
// answered as WeChat sent them.
func TestCallTokenRetry(t *testing.T) {
	api, _ := Lookup("urllink.generate")
	for _, tc := range []struct {
		name    string
		code    int64 // WeChat's answer to the first token
		own     string
		fixed   string
		wantErr int64    // errcode of the answer
		want    []string // tokens of the API calls
	}{
		{name: "40001 invalid credential", code: 40001, want: []string{"tok-1", "tok-2"}},
		{name: "40014 invalid access_token", code: 40014, want: []string{"tok-1", "tok-2"}},
		{name: "42001 access_token expired", code: 42001, want: []string{"tok-1", "tok-2"}},
		{name: "40013 invalid appid", code: 40013, wantErr: 40013, want: []string{"tok-1"}},
		{name: "45009 quota", code: 45009, wantErr: 45009, want: []string{"tok-1"}},
		{name: "no error", want: []string{"tok-1"}},
		{name: "caller's own token", code: 40001, own: "tok-1", wantErr: 40001, want: []string{"tok-1"}},
		{name: "fixed token", code: 42001, fixed: "tok-1", wantErr: 42001, want: []string{"tok-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newTokenFake(t)
			f.reject["tok-1"] = tc.code
			c := &Client{Endpoint: srv.URL, HTTP: srv.Client(), Tokens: newTestManager(t, nil, &clock{t: time.Now()}), AccessToken: tc.fixed}
			var rejected []int64
			c.OnTokenRejected = func(appID string, code int64) { rejected = append(rejected, code) }
			req := &Request{API: api, Params: map[string]any{"path": "p"}, Token: tc.own}
			ans, err := c.Call(context.Background(), App{ID: "wx01", Secret: "s"}, req)
			if err != nil {
				t.Fatal(err)
			}
			if ans.ErrCode != tc.wantErr {
				t.Fatalf("errcode %d, want %d", ans.ErrCode, tc.wantErr)
			}
			got := f.calls()
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("API calls with tokens %v, want %v", got, tc.want)
			}
			if req.Token != tc.want[len(tc.want)-1] {
				t.Fatalf("req.Token %q after Call, want the last one sent", req.Token)
			}
			if retried := len(tc.want) == 2; retried != (len(rejected) == 1) || retried && rejected[0] != tc.code {
				t.Fatalf("OnTokenRejected %v", rejected)
			}
		})
	}
}

// A second rejection is answered, not retried again.
func TestCallRetriesOnce(t *testing.T) {
	api, _ := Lookup("urllink.generate")
	f, srv := newTokenFake(t)
	f.reject["tok-1"], f.reject["tok-2"], f.reject["tok-3"] = 40001, 42001, 40014
	c := &Client{Endpoint: srv.URL, HTTP: srv.Client(), Tokens: newTestManager(t, nil, &clock{t: time.Now()})}
	ans, err := c.Call(context.Background(), App{ID: "wx01", Secret: "s"}, &Request{API: api, Params: map[string]any{}})
	if err != nil || ans.ErrCode != 42001 {
		t.Fatalf("%v %+v", err, ans)
	}
	if got := f.calls(); fmt.Sprint(got) != "[tok-1 tok-2]" {
		t.Fatalf("API calls %v", got)
	}
}

// A token WeChat refuses to issue is a TokenUnavailableError holding the
// TokenError; no API call is made. Without an authority, a call that needs
// the gateway's token fails the same way.
func TestCallTokenUnavailable(t *testing.T) {
	api, _ := Lookup("urllink.generate")
	f, srv := newTokenFake(t)
	f.refuse = 40125
	for name, c := range map[string]*Client{
		"refused":      {Endpoint: srv.URL, HTTP: srv.Client(), Tokens: newTestManager(t, nil, &clock{t: time.Now()})},
		"no authority": {Endpoint: srv.URL, HTTP: srv.Client()},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Call(context.Background(), App{ID: "wx01", Secret: "s"}, &Request{API: api, Params: map[string]any{}})
			var tue *TokenUnavailableError
			if !errors.As(err, &tue) {
				t.Fatalf("err %v, want a TokenUnavailableError", err)
			}
			var te *TokenError
			if name == "refused" && (!errors.As(err, &te) || te.ErrCode != 40125) {
				t.Fatalf("err %v, want the TokenError 40125", err)
			}
			if got := f.calls(); len(got) != 0 {
				t.Fatalf("API called: %v", got)
			}
		})
	}
}

// The token mode picks the token endpoint.
func TestCallTokenMode(t *testing.T) {
	api, _ := Lookup("urllink.generate")
	for mode, path := range map[string]string{"": "/cgi-bin/stable_token", TokenStable: "/cgi-bin/stable_token", TokenClassic: "/cgi-bin/token"} {
		var mu sync.Mutex
		var paths []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			paths = append(paths, r.URL.Path)
			mu.Unlock()
			_, _ = io.WriteString(w, `{"access_token":"t-0123456789","expires_in":7200,"errcode":0}`)
		}))
		c := &Client{Endpoint: srv.URL, HTTP: srv.Client(), Tokens: newTestManager(t, nil, &clock{t: time.Now()}), TokenMode: mode}
		if _, err := c.Call(context.Background(), App{ID: "wx01", Secret: "s"}, &Request{API: api, Params: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if len(paths) != 2 || paths[0] != path {
			t.Errorf("mode %q: paths %v, want %s first", mode, paths, path)
		}
	}
}
