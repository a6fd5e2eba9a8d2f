package xpay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// fakeTokens hands out tok1, then tok2 after a refresh.
type fakeTokens struct {
	mu        sync.Mutex
	current   string
	refreshed []string
	err       error
}

func (f *fakeTokens) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current, f.err
}

func (f *fakeTokens) Refresh(_ context.Context, rejected string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshed = append(f.refreshed, rejected)
	f.current = "tok2"
	return f.current, nil
}

type seen struct{ query, body string }

func fakeWeChat(t *testing.T, answer func(token string) string) (*httptest.Server, *[]seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.URL.RawQuery, string(b)})
		mu.Unlock()
		if r.URL.Path != "/xpay/query_user_balance" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, answer(r.URL.Query().Get("access_token")))
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestHTTPCallerRetriesOnceWithTheSameBody(t *testing.T) {
	srv, got := fakeWeChat(t, func(tok string) string {
		if tok != "tok2" {
			return `{"errcode":40001,"errmsg":"invalid credential"}`
		}
		return `{"errcode":0,"errmsg":"ok","balance":7}`
	})
	tokens := &fakeTokens{current: "tok1"}
	var rejected []int64
	h := &HTTPCaller{Endpoint: srv.URL, Tokens: tokens, OnTokenRejected: func(c int64) { rejected = append(rejected, c) }}
	q := url.Values{"pay_sig": {"ps"}, "signature": {"sg"}}
	ans, err := h.Post(context.Background(), "/xpay/query_user_balance", q, []byte(`{"env":0,"openid":"o1"}`))
	if err != nil || !strings.Contains(string(ans), `"balance":7`) {
		t.Fatalf("Post = %s, %v", ans, err)
	}
	if len(*got) != 2 || (*got)[0].body != (*got)[1].body {
		t.Fatalf("requests = %+v, want two with the same body", *got)
	}
	for i, tok := range []string{"tok1", "tok2"} {
		v, _ := url.ParseQuery((*got)[i].query)
		if v.Get("access_token") != tok || v.Get("pay_sig") != "ps" || v.Get("signature") != "sg" {
			t.Errorf("request %d query = %v", i, v)
		}
	}
	if len(tokens.refreshed) != 1 || tokens.refreshed[0] != "tok1" || len(rejected) != 1 || rejected[0] != 40001 {
		t.Errorf("refreshed %v, rejected %v", tokens.refreshed, rejected)
	}
}

func TestHTTPCallerSecondRefusalIsTheAnswer(t *testing.T) {
	srv, got := fakeWeChat(t, func(string) string { return `{"errcode":42001,"errmsg":"access_token expired"}` })
	h := &HTTPCaller{Endpoint: srv.URL, Tokens: &fakeTokens{current: "tok1"}}
	c := &Client{Config: Config{AppID: "a", OfferID: "1", AppKey: "k"}, Caller: h, Sessions: keys{"a/o1": "sk"}}
	_, err := c.Call(context.Background(), "queryUserBalance", pay.Params{"openid": "o1"})
	var xe *Error
	if !errors.As(err, &xe) || xe.Code != 42001 {
		t.Errorf("err = %v, want errcode 42001", err)
	}
	if len(*got) != 2 {
		t.Errorf("%d requests, want 2 (one retry)", len(*got))
	}
}

func TestHTTPCallerFailures(t *testing.T) {
	ctx := context.Background()
	body := []byte(`{}`)
	h := &HTTPCaller{Endpoint: "http://127.0.0.1:1", Tokens: &fakeTokens{err: errors.New("refused")}}
	if _, err := h.Post(ctx, "/xpay/query_user_balance", nil, body); !errors.Is(err, ErrTokenUnavailable) {
		t.Errorf("no token: err = %v", err)
	}
	h.Tokens = &fakeTokens{current: "secret-token"}
	_, err := h.Post(ctx, "/xpay/query_user_balance", nil, body)
	if !errors.Is(err, pay.ErrUpstream) || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("unreachable: err = %v", err)
	}

	for name, handler := range map[string]http.HandlerFunc{
		"5xx":      func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "x", http.StatusBadGateway) },
		"not JSON": func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>") },
	} {
		srv := httptest.NewServer(handler)
		h.Endpoint = srv.URL
		if _, err := h.Post(ctx, "/xpay/query_user_balance", nil, body); !errors.Is(err, pay.ErrUpstream) {
			t.Errorf("%s: err = %v", name, err)
		}
		srv.Close()
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	h.Endpoint = slow.URL
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := h.Post(tctx, "/xpay/query_user_balance", nil, body); !errors.Is(err, pay.ErrUpstreamTimeout) {
		t.Errorf("slow: err = %v, want a timeout", err)
	}
}
