package weixin

import (
	"context"
	"errors"
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

// ticketFake is a local WeChat for the ticket: stable_token hands out
// tok-1, tok-2, … (a new one when the current one is rejected), getticket
// issues ticket-1, ticket-2, … for a token it accepts.
type ticketFake struct {
	mu      sync.Mutex
	issued  int
	current string
	reject  map[string]int64 // token -> getticket's errcode
	refuse  int64            // getticket's errcode for every token
	tickets int
	sent    []string // access_token of each getticket
	types   []string
	hold    chan struct{}
	started chan struct{}
}

func newTicketFake(t *testing.T) (*ticketFake, *httptest.Server) {
	f := &ticketFake{reject: map[string]int64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/cgi-bin/stable_token" {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.current == "" || f.reject[f.current] != 0 {
				f.issued++
				f.current = fmt.Sprintf("tok-%d", f.issued)
			}
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, f.current)
			return
		}
		if r.URL.Path != "/cgi-bin/ticket/getticket" {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		hold, started := f.hold, f.started
		f.mu.Unlock()
		if hold != nil {
			started <- struct{}{}
			<-hold
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		tok := r.URL.Query().Get("access_token")
		f.sent = append(f.sent, tok)
		f.types = append(f.types, r.URL.Query().Get("type"))
		if code := f.reject[tok]; code != 0 {
			_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":"token rejected"}`, code)
			return
		}
		if f.refuse != 0 {
			_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":"refused"}`, f.refuse)
			return
		}
		f.tickets++
		_, _ = fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","ticket":"ticket-%d","expires_in":7200}`, f.tickets)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *ticketFake) getTickets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

func ticketClient(srv *httptest.Server, m *TokenManager) *Client {
	return &Client{Endpoint: srv.URL, HTTP: srv.Client(), Tokens: m}
}

var h5App = App{ID: "wxh5", Secret: "h5-secret"}

// The ticket is one more credential of the authority: fetched once with
// the official account's token, then served from memory; it has its own
// key, next to the access token's.
func TestTicketHeldLikeToken(t *testing.T) {
	f, srv := newTicketFake(t)
	m := newTestManager(t, nil, &clock{t: time.Now()})
	c := ticketClient(srv, m)
	ctx := context.Background()
	t1, err := c.Ticket(ctx, h5App)
	if err != nil || t1.Value != "ticket-1" {
		t.Fatalf("%+v %v", t1, err)
	}
	for range 3 {
		if t2, err := c.Ticket(ctx, h5App); err != nil || t2.Value != "ticket-1" {
			t.Fatalf("%+v %v", t2, err)
		}
	}
	if got := f.getTickets(); fmt.Sprint(got) != "[tok-1]" || f.types[0] != "jsapi" {
		t.Fatalf("getticket calls with tokens %v, types %v", got, f.types)
	}
	tok, _ := c.Token(ctx, h5App)
	if tok.Value != "tok-1" {
		t.Fatalf("access token %q", tok.Value)
	}
	tk := CredentialKey(srv.URL, "wxh5", CredentialJSAPITicket)
	if tk == TokenKey(srv.URL, "wxh5") || kindOf(tk) != CredentialJSAPITicket || appIDOf(tk) != "wxh5" {
		t.Fatalf("ticket key %q", tk)
	}
	if kindOf(TokenKey(srv.URL, "wxh5")) != CredentialAccessToken || appIDOf(TokenKey(srv.URL, "wxh5")) != "wxh5" {
		t.Fatal("access token key")
	}
}

// Concurrent misses make one getticket.
func TestTicketConcurrentMisses(t *testing.T) {
	f, srv := newTicketFake(t)
	f.hold, f.started = make(chan struct{}), make(chan struct{}, 64)
	c := ticketClient(srv, newTestManager(t, nil, &clock{t: time.Now()}))
	done := make(chan []string)
	go func() {
		done <- callConcurrently(t, 16, func(int) (Token, error) { return c.Ticket(context.Background(), h5App) })
	}()
	<-f.started
	close(f.hold)
	got := <-done
	allEqual(t, got)
	if n := len(f.getTickets()); n != 1 {
		t.Fatalf("%d getticket calls, want 1", n)
	}
}

// Instances sharing a storage share the ticket: the second takes it from
// the storage, under the lock and re-check, and calls getticket never.
func TestTicketSharedStorage(t *testing.T) {
	f, srv := newTicketFake(t)
	st := &certmagic.FileStorage{Path: t.TempDir()}
	clk := &clock{t: time.Now()}
	log, _ := observed()
	c1 := ticketClient(srv, managerOn(t, st, clk, log))
	c2 := ticketClient(srv, managerOn(t, st, clk, log))
	t1, err := c1.Ticket(context.Background(), h5App)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := c2.Ticket(context.Background(), h5App)
	if err != nil || t2.Value != t1.Value {
		t.Fatalf("second instance: %+v %v, want %q", t2, err, t1.Value)
	}
	if n := len(f.getTickets()); n != 1 {
		t.Fatalf("%d getticket calls, want 1", n)
	}
	raw, err := st.Load(context.Background(), storageKey(CredentialKey(srv.URL, "wxh5", CredentialJSAPITicket)))
	if err != nil || !strings.Contains(string(raw), t1.Value) {
		t.Fatalf("ticket not in the storage under its key: %v", err)
	}
}

// getticket refusing the token drops it, and getticket is retried once
// with a fresh one; a second refusal or another errcode is a
// TicketUnavailableError with WeChat's errcode.
func TestTicketTokenRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reject  map[string]int64
		refuse  int64
		want    []string
		wantErr int64
	}{
		{name: "40001 then ok", reject: map[string]int64{"tok-1": 40001}, want: []string{"tok-1", "tok-2"}},
		{name: "42001 then ok", reject: map[string]int64{"tok-1": 42001}, want: []string{"tok-1", "tok-2"}},
		{name: "40014 twice", reject: map[string]int64{"tok-1": 40014, "tok-2": 40014}, want: []string{"tok-1", "tok-2"}, wantErr: 40014},
		{name: "another errcode", refuse: 45009, want: []string{"tok-1"}, wantErr: 45009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newTicketFake(t)
			f.reject, f.refuse = tc.reject, tc.refuse
			c := ticketClient(srv, newTestManager(t, nil, &clock{t: time.Now()}))
			var rejected []int64
			c.OnTokenRejected = func(_ string, code int64) { rejected = append(rejected, code) }
			tk, err := c.Ticket(context.Background(), h5App)
			if got := f.getTickets(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("getticket with tokens %v, want %v", got, tc.want)
			}
			if len(rejected) != len(tc.want)-1 {
				t.Fatalf("OnTokenRejected %v", rejected)
			}
			if tc.wantErr == 0 {
				if err != nil || tk.Value != "ticket-1" {
					t.Fatalf("%+v %v", tk, err)
				}
				if tok, _ := c.Token(context.Background(), h5App); tok.Value != "tok-2" {
					t.Fatalf("refused token kept: %q", tok.Value)
				}
				return
			}
			var tue *TicketUnavailableError
			var te *TokenError
			if !errors.As(err, &tue) || !errors.As(err, &te) || te.ErrCode != tc.wantErr {
				t.Fatalf("err %v, want a TicketUnavailableError with errcode %d", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "tok-") {
				t.Fatalf("error names the token: %v", err)
			}
		})
	}
}

// Ticket keys are per endpoint, like tokens.
func TestCredentialKeyPerEndpointAndKind(t *testing.T) {
	a := CredentialKey("https://api.weixin.qq.com", "wx1", CredentialJSAPITicket)
	b := CredentialKey("http://127.0.0.1:9000", "wx1", CredentialJSAPITicket)
	if a == b || a == TokenKey("https://api.weixin.qq.com", "wx1") {
		t.Fatalf("keys %q %q", a, b)
	}
	if CredentialKey("https://api.weixin.qq.com", "wx1", CredentialAccessToken) != TokenKey("https://api.weixin.qq.com", "wx1") {
		t.Fatal("an access token's key changed")
	}
}
