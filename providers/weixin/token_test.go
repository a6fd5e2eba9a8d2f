package weixin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// fakeProvider hands out numbered tokens and counts fetches.
type fakeProvider struct {
	mu      sync.Mutex
	n       int
	forced  int
	ttl     time.Duration
	now     func() time.Time
	current string
	fail    bool
	// hold, when set, keeps every fetch waiting until it is closed;
	// started then receives one value per fetch that began.
	hold    chan struct{}
	started chan struct{}
}

// holding makes p's fetches wait until release is called; the returned
// channel receives one value per fetch that began.
func (p *fakeProvider) holding() (started <-chan struct{}, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.started = make(chan struct{}), make(chan struct{}, 64)
	var once sync.Once
	hold := p.hold
	return p.started, func() { once.Do(func() { close(hold) }) }
}

func (p *fakeProvider) fetch(ctx context.Context, force bool) (Token, error) {
	p.mu.Lock()
	hold, started := p.hold, p.started
	p.mu.Unlock()
	if hold != nil {
		started <- struct{}{}
		<-hold
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return Token{}, errors.New("provider down")
	}
	// Like /cgi-bin/token: every fetch is a new token.
	p.n++
	if force {
		p.forced++
	}
	p.current = fmt.Sprintf("token-%d", p.n)
	return Token{Value: p.current, FetchedAt: p.now(), ExpiresAt: p.now().Add(p.ttl)}, nil
}

func (p *fakeProvider) fetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestManager(t *testing.T, st Storage, c *clock) *TokenManager {
	t.Helper()
	m, err := NewTokenManager(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m.now = c.now
	return m
}

func TestTokenMemoryHitAndExpiry(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now}
	m := newTestManager(t, nil, c)
	ctx := context.Background()

	t1, err := m.Token(ctx, "app", p.fetch)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		got, err := m.Token(ctx, "app", p.fetch)
		if err != nil || got.Value != t1.Value {
			t.Fatalf("hit %d: got %q, %v; want %q", i, got.Value, err, t1.Value)
		}
	}
	if p.fetches() != 1 {
		t.Fatalf("fetches = %d, want 1", p.fetches())
	}
	// Past expiry: a new fetch.
	c.add(2*time.Hour + time.Second)
	t2, err := m.Token(ctx, "app", p.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if t2.Value == t1.Value || p.fetches() != 2 {
		t.Fatalf("after expiry got %q (fetches %d), want a new token", t2.Value, p.fetches())
	}
}

func TestTokenRefreshAhead(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now}
	m := newTestManager(t, nil, c)
	refreshed := make(chan string, 4)
	m.refreshed = func(key string) { refreshed <- key }
	ctx := context.Background()

	t1, _ := m.Token(ctx, "app", p.fetch)
	// Inside the refresh window (5 minutes before expiry): the old token is
	// still served while a new one is fetched in the background, however
	// long that fetch takes.
	c.add(2*time.Hour - 2*time.Minute)
	started, release := p.holding()
	got, err := m.Token(ctx, "app", p.fetch)
	if err != nil || got.Value != t1.Value {
		t.Fatalf("in window: got %q, %v; want the current token", got.Value, err)
	}
	<-started // the background fetch is under way
	for range 3 {
		if got, err := m.Token(ctx, "app", p.fetch); err != nil || got.Value != t1.Value {
			t.Fatalf("during the refresh: got %q, %v; want the current token", got.Value, err)
		}
	}
	release()
	if key := <-refreshed; key != "app" {
		t.Fatalf("background refresh of %q", key)
	}
	got, _ = m.Token(ctx, "app", p.fetch)
	if got.Value == t1.Value || p.fetches() != 2 {
		t.Fatalf("after refresh got %q with %d fetches", got.Value, p.fetches())
	}
}

func TestTokenShortLifetimeRefreshAhead(t *testing.T) {
	// A 60 s token is refreshed in its last fifth, not treated as stale
	// from the start because RefreshAhead (5 min) is longer than its life.
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &fakeProvider{ttl: time.Minute, now: c.now}
	m := newTestManager(t, nil, c)
	ctx := context.Background()
	t1, _ := m.Token(ctx, "app", p.fetch)
	c.add(30 * time.Second)
	if got, _ := m.Token(ctx, "app", p.fetch); got.Value != t1.Value || p.fetches() != 1 {
		t.Fatalf("got %q after %d fetches, want the first token from memory", got.Value, p.fetches())
	}
}

func TestTokenSingleflight(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now}
	started, release := p.holding()
	m := newTestManager(t, nil, c)
	ctx := context.Background()

	var wg, arrived sync.WaitGroup
	var mismatch atomic.Int32
	values := make([]string, 64)
	for i := range values {
		wg.Add(1)
		arrived.Add(1)
		go func(i int) {
			defer wg.Done()
			arrived.Done()
			tok, err := m.Token(ctx, "app", p.fetch)
			if err != nil {
				mismatch.Add(1)
			}
			values[i] = tok.Value
		}(i)
	}
	<-started // one fetch is under way, held until every caller is there
	arrived.Wait()
	release()
	wg.Wait()
	if p.fetches() != 1 {
		t.Fatalf("64 concurrent misses made %d fetches, want 1", p.fetches())
	}
	for _, v := range values {
		if v != values[0] {
			t.Fatalf("callers got different tokens: %q vs %q", v, values[0])
		}
	}
	if mismatch.Load() != 0 {
		t.Fatal("some callers got an error")
	}
}

func TestTokenFetchError(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now, fail: true}
	m := newTestManager(t, nil, c)
	if _, err := m.Token(context.Background(), "app", p.fetch); err == nil {
		t.Fatal("want an error when the provider fails")
	}
}

func TestTokenInvalidateCompareAndDrop(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now}
	m := newTestManager(t, nil, c)
	ctx := context.Background()

	t1, _ := m.Token(ctx, "app", p.fetch)
	// Many calls fail with t1 at once: one new token for all of them.
	started, release := p.holding()
	var wg, arrived sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		arrived.Add(1)
		go func(i int) {
			defer wg.Done()
			arrived.Done()
			tok, err := m.Invalidate(ctx, "app", t1.Value, p.fetch)
			if err != nil {
				t.Error(err)
			}
			got[i] = tok.Value
		}(i)
	}
	<-started // the replacement is under way, held until every caller is there
	arrived.Wait()
	release()
	wg.Wait()
	if p.fetches() != 2 {
		t.Fatalf("invalidating one token 16 times made %d fetches in all, want 2", p.fetches())
	}
	t2, _ := m.Token(ctx, "app", p.fetch)
	for _, v := range got {
		if v != t2.Value || v == t1.Value {
			t.Fatalf("retry token %q, current %q, bad %q", v, t2.Value, t1.Value)
		}
	}
	// A late report about t1 (already replaced) must not drop t2.
	t3, err := m.Invalidate(ctx, "app", t1.Value, p.fetch)
	if err != nil || t3.Value != t2.Value || p.fetches() != 2 {
		t.Fatalf("stale invalidation replaced the current token: %q (fetches %d)", t3.Value, p.fetches())
	}
}

// stickyProvider answers like stable_token: the same token until forced.
type stickyProvider struct{ fakeProvider }

func (p *stickyProvider) fetch(ctx context.Context, force bool) (Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == "" || force {
		p.n++
		p.current = fmt.Sprintf("stable-%d", p.n)
		if force {
			p.forced++
		}
	}
	return Token{Value: p.current, FetchedAt: p.now(), ExpiresAt: p.now().Add(p.ttl)}, nil
}

func TestTokenInvalidateForcesWhenProviderRepeatsBadToken(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := &stickyProvider{fakeProvider{ttl: 2 * time.Hour, now: c.now}}
	m := newTestManager(t, nil, c)
	ctx := context.Background()
	t1, _ := m.Token(ctx, "app", p.fetch)
	t2, err := m.Invalidate(ctx, "app", t1.Value, p.fetch)
	if err != nil || t2.Value == t1.Value || p.forced != 1 {
		t.Fatalf("got %q (forced %d), want a forced new token", t2.Value, p.forced)
	}
}

func TestTokenSharedStorageTwoManagers(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Now()}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now}
	started, release := p.holding()
	// Two "instances": two managers, each with its own FileStorage value on
	// the same folder, as two Caddy processes would have.
	m1 := newTestManager(t, &certmagic.FileStorage{Path: dir}, c)
	m2 := newTestManager(t, &certmagic.FileStorage{Path: dir}, c)
	ctx := context.Background()

	var wg, arrived sync.WaitGroup
	vals := make([]string, 20)
	for i := range vals {
		wg.Add(1)
		arrived.Add(1)
		go func(i int) {
			defer wg.Done()
			arrived.Done()
			m := m1
			if i%2 == 1 {
				m = m2
			}
			tok, err := m.Token(ctx, "app", p.fetch)
			if err != nil {
				t.Error(err)
			}
			vals[i] = tok.Value
		}(i)
	}
	<-started // one instance fetches, held until every caller is there
	arrived.Wait()
	release()
	wg.Wait()
	if p.fetches() != 1 {
		t.Fatalf("two instances sharing storage fetched %d times, want 1", p.fetches())
	}
	for _, v := range vals {
		if v != vals[0] {
			t.Fatalf("instances disagree: %q vs %q", v, vals[0])
		}
	}

	// Instance 1 learns the token is invalid and replaces it; instance 2,
	// told the same later, takes the replacement from storage.
	t2, err := m1.Invalidate(ctx, "app", vals[0], p.fetch)
	if err != nil {
		t.Fatal(err)
	}
	t3, err := m2.Invalidate(ctx, "app", vals[0], p.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if t3.Value != t2.Value || p.fetches() != 2 {
		t.Fatalf("second instance got %q, first %q, fetches %d; want one shared refresh", t3.Value, t2.Value, p.fetches())
	}
}

func TestTokenKeyPerEndpoint(t *testing.T) {
	a := TokenKey("https://api.weixin.qq.com", "wx1")
	b := TokenKey("http://127.0.0.1:9000", "wx1")
	if a == b {
		t.Fatal("tokens of different endpoints share a key")
	}
	if TokenKey("https://api.weixin.qq.com", "wx1") != a {
		t.Fatal("key is not stable")
	}
}

func BenchmarkTokenHit(b *testing.B) {
	m, err := NewTokenManager(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	fetch := func(ctx context.Context, force bool) (Token, error) {
		now := time.Now()
		return Token{Value: "t", FetchedAt: now, ExpiresAt: now.Add(2 * time.Hour)}, nil
	}
	ctx := context.Background()
	if _, err := m.Token(ctx, "app", fetch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Token(ctx, "app", fetch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// While a rejected token is being replaced, calls that miss memory join
// that one fetch: they never take the rejected token back from the shared
// storage.
func TestTokenRejectedNotReadBackFromStorage(t *testing.T) {
	c := &clock{t: time.Now()}
	p := &fakeProvider{ttl: 2 * time.Hour, now: c.now}
	m := newTestManager(t, &certmagic.FileStorage{Path: t.TempDir()}, c)
	ctx := context.Background()
	t1, err := m.Token(ctx, "app", p.fetch)
	if err != nil {
		t.Fatal(err)
	}
	started, release := p.holding()
	var wg, arrived sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := m.Invalidate(ctx, "app", t1.Value, p.fetch); err != nil {
			t.Error(err)
		}
	}()
	<-started // the replacement is under way, held until the callers are there
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		arrived.Add(1)
		go func(i int) {
			defer wg.Done()
			arrived.Done()
			tok, err := m.Token(ctx, "app", p.fetch)
			if err != nil {
				t.Error(err)
			}
			got[i] = tok.Value
		}(i)
	}
	arrived.Wait()
	release()
	wg.Wait()
	for _, v := range got {
		if v == t1.Value {
			t.Fatal("a call got the rejected token back from the shared storage")
		}
	}
	if n := p.fetches(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the first token and one replacement)", n)
	}
}
