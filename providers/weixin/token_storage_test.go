package weixin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/internal/redisstorage"
)

// The token authority on storages that fail: read-only, a lock whose holder
// died, a Redis that goes away. The calls are served in every case.

// stableProvider answers like stable_token (the same token until forced)
// and counts calls. When gate is set, each call first reports on entered
// and waits for gate to be closed.
type stableProvider struct {
	mu      sync.Mutex
	now     func() time.Time
	calls   int
	issued  int
	forced  int
	current string
	entered chan struct{}
	gate    chan struct{}
}

func (p *stableProvider) fetch(ctx context.Context, force bool) (Token, error) {
	if p.gate != nil {
		select {
		case p.entered <- struct{}{}:
		default:
		}
		<-p.gate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.current == "" || force {
		p.issued++
		p.current = fmt.Sprintf("stable-%d", p.issued)
		if force {
			p.forced++
		}
	}
	return Token{Value: p.current, FetchedAt: p.now(), ExpiresAt: p.now().Add(2 * time.Hour)}, nil
}

func (p *stableProvider) counts() (calls, issued, forced int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.issued, p.forced
}

// readOnly is a storage that can be read but neither locked nor written,
// as a read-only mount or a Redis replica.
type readOnly struct{ Storage }

var errReadOnly = fmt.Errorf("storage: %w", syscall.EROFS)

func (readOnly) Lock(context.Context, string) error          { return errReadOnly }
func (readOnly) Store(context.Context, string, []byte) error { return errReadOnly }

// lockSpy reports every Lock call on locking.
type lockSpy struct {
	Storage
	locking chan string
}

func (s lockSpy) Lock(ctx context.Context, name string) error {
	select {
	case s.locking <- name:
	default:
	}
	return s.Storage.Lock(ctx, name)
}

func newRedis(t *testing.T) (*miniredis.Miniredis, func() *redisstorage.Storage) {
	t.Helper()
	mr := miniredis.RunT(t)
	return mr, func() *redisstorage.Storage {
		st := redisstorage.New(mr.Addr())
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
}

// observed is a logger that keeps its entries.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

func managerOn(t *testing.T, st Storage, c *clock, log *zap.Logger) *TokenManager {
	t.Helper()
	m := newTestManager(t, nil, c)
	t.Cleanup(m.UseStorage(st, log))
	return m
}

// callConcurrently makes n calls of m.Token at once and returns the tokens.
func callConcurrently(t *testing.T, n int, token func(i int) (Token, error)) []string {
	t.Helper()
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok, err := token(i)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
			got[i] = tok.Value
		}(i)
	}
	wg.Wait()
	return got
}

func allEqual(t *testing.T, vals []string) {
	t.Helper()
	for _, v := range vals {
		if v == "" || v != vals[0] {
			t.Fatalf("callers got different tokens: %q", vals)
		}
	}
}

func warnings(logs *observer.ObservedLogs, msg string) []observer.LoggedEntry {
	return logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet(msg).All()
}

func TestTokenReadOnlyStorageServes(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   func(t *testing.T) Storage
	}{
		{"file_system", func(t *testing.T) Storage { return &certmagic.FileStorage{Path: t.TempDir()} }},
		{"redis", func(t *testing.T) Storage { _, st := newRedis(t); return st() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Now()}
			p := &stableProvider{now: c.now}
			log, logs := observed()
			m := managerOn(t, readOnly{tc.st(t)}, c, log)
			got := callConcurrently(t, 16, func(int) (Token, error) { return m.Token(context.Background(), "wx1-abc", p.fetch) })
			allEqual(t, got)
			if calls, _, _ := p.counts(); calls != 1 {
				t.Fatalf("%d fetches, want 1", calls)
			}
			// Served from memory afterwards.
			if tok, err := m.Token(context.Background(), "wx1-abc", p.fetch); err != nil || tok.Value != got[0] {
				t.Fatalf("second call: %q, %v", tok.Value, err)
			}
			if calls, _, _ := p.counts(); calls != 1 {
				t.Fatalf("%d fetches after a memory hit, want 1", calls)
			}
			lock := warnings(logs, "storage lock not taken")
			store := warnings(logs, "not stored")
			if len(lock) != 1 || len(store) != 1 {
				t.Fatalf("warnings: %d about the lock, %d about storing, want 1 each: %v", len(lock), len(store), logs.All())
			}
			if app := lock[0].ContextMap()["app_id"]; app != "wx1" {
				t.Fatalf("lock warning names app %v, want wx1", app)
			}
		})
	}
}

// A lock whose holder died (killed mid-refresh) stays in Redis until its
// expiry: callers fetch without it after LockWait, once per process.
func TestTokenDeadLockHolderRedis(t *testing.T) {
	mr, open := newRedis(t)
	c := &clock{t: time.Now()}
	p := &stableProvider{now: c.now}
	log, logs := observed()
	st1, st2 := open(), open()
	if err := mr.Set(st1.LockKey("unicloud/token/wx1-abc"), "dead-holder"); err != nil {
		t.Fatal(err)
	}
	mr.SetTTL(st1.LockKey("unicloud/token/wx1-abc"), redisstorage.DefaultLockExpiry)
	m1 := managerOn(t, st1, c, log)
	m2 := managerOn(t, st2, c, log)
	m1.LockWait, m2.LockWait = 50*time.Millisecond, 50*time.Millisecond

	got := callConcurrently(t, 20, func(i int) (Token, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if i%2 == 0 {
			return m1.Token(ctx, "wx1-abc", p.fetch)
		}
		return m2.Token(ctx, "wx1-abc", p.fetch)
	})
	allEqual(t, got)
	calls, issued, _ := p.counts()
	if calls < 1 || calls > 2 || issued != 1 {
		t.Fatalf("%d fetches (%d tokens issued), want one fetch per instance at most and one token", calls, issued)
	}
	if len(warnings(logs, "storage lock not taken")) != calls {
		t.Fatalf("want one lock warning per fetch: %v", logs.All())
	}
	if !mr.Exists(st1.LockKey("unicloud/token/wx1-abc")) {
		t.Fatal("the dead holder's lock was removed")
	}
}

// Redis goes away mid-run: memory keeps serving, and a revoked token is
// still replaced (one new token), on every instance.
func TestTokenRedisStoppedMidRun(t *testing.T) {
	mr, open := newRedis(t)
	c := &clock{t: time.Now()}
	p := &stableProvider{now: c.now}
	log, logs := observed()
	m1 := managerOn(t, open(), c, log)
	m2 := managerOn(t, open(), c, log)
	ctx := context.Background()

	t1, err := m1.Token(ctx, "wx1-abc", p.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if t2, err := m2.Token(ctx, "wx1-abc", p.fetch); err != nil || t2.Value != t1.Value {
		t.Fatalf("second instance: %q, %v", t2.Value, err)
	}
	mr.Close()

	for i := 0; i < 5; i++ {
		for _, m := range []*TokenManager{m1, m2} {
			if tok, err := m.Token(ctx, "wx1-abc", p.fetch); err != nil || tok.Value != t1.Value {
				t.Fatalf("with Redis down: %q, %v", tok.Value, err)
			}
		}
	}
	if calls, _, _ := p.counts(); calls != 1 {
		t.Fatalf("%d fetches, want 1", calls)
	}

	// WeChat revokes the token: both instances see 40001.
	replaced := callConcurrently(t, 8, func(i int) (Token, error) {
		if i%2 == 0 {
			return m1.Invalidate(ctx, "wx1-abc", t1.Value, p.fetch)
		}
		return m2.Invalidate(ctx, "wx1-abc", t1.Value, p.fetch)
	})
	allEqual(t, replaced)
	if replaced[0] == t1.Value {
		t.Fatal("the revoked token was served again")
	}
	if _, issued, forced := p.counts(); issued != 2 || forced != 1 {
		t.Fatalf("%d tokens issued (%d forced), want one replacement", issued, forced)
	}
	if len(warnings(logs, "storage lock not taken")) == 0 {
		t.Fatalf("no warning about the storage: %v", logs.All())
	}
}

// Two instances on a healthy Redis: concurrent misses on both make one
// fetch; the second instance waits for the first one's lock and takes its
// token from Redis.
func TestTokenTwoManagersOneRedis(t *testing.T) {
	_, open := newRedis(t)
	c := &clock{t: time.Now()}
	p := &stableProvider{now: c.now, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	locking := make(chan string, 1)
	log, logs := observed()
	m1 := managerOn(t, open(), c, log)
	m2 := managerOn(t, lockSpy{Storage: open(), locking: locking}, c, log)
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := m1.Token(ctx, "wx1-abc", p.fetch); first <- err }()
	<-p.entered // m1 holds the lock and is fetching
	done := make(chan []string, 1)
	go func() {
		done <- callConcurrently(t, 16, func(i int) (Token, error) {
			if i%4 == 0 {
				return m1.Token(ctx, "wx1-abc", p.fetch)
			}
			return m2.Token(ctx, "wx1-abc", p.fetch)
		})
	}()
	select {
	case <-locking: // m2 waits for m1's lock
	case <-time.After(10 * time.Second):
		t.Fatal("the second instance never asked for the lock")
	}
	close(p.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	allEqual(t, <-done)
	if calls, _, _ := p.counts(); calls != 1 {
		t.Fatalf("two instances on one Redis made %d fetches, want 1", calls)
	}
	if n := len(logs.FilterLevelExact(zapcore.WarnLevel).All()); n != 0 {
		t.Fatalf("warnings on a healthy Redis: %v", logs.All())
	}
}

// A token that cannot be obtained leaves one warning per failed fetch, with
// the appid and WeChat's errcode, never the secret.
func TestTokenFetchFailureLogged(t *testing.T) {
	const appid, secret = "wx00000000000000a1", "the-right-secret-0123456789abcdef"
	emu := emulator.New(emulator.Config{WeixinApps: map[string]string{appid: secret}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	const wrong = "a-wrong-secret-that-must-stay-secret"
	for _, tc := range []struct {
		name     string
		endpoint string
		classic  bool
		field    string
		want     any
	}{
		{"wrong secret, stable", srv.URL, false, "errcode", int64(40125)},
		{"wrong secret, classic", srv.URL, true, "errcode", int64(40125)},
		{"unreachable", down.URL, false, "reason", "provider unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := &Client{Endpoint: tc.endpoint, HTTP: srv.Client()}
			fetch := func(ctx context.Context, force bool) (Token, error) {
				if tc.classic {
					return client.FetchClassicToken(ctx, appid, wrong)
				}
				return client.FetchStableToken(ctx, appid, wrong, force)
			}
			c := &clock{t: time.Now()}
			log, logs := observed()
			m := managerOn(t, &certmagic.FileStorage{Path: t.TempDir()}, c, log)
			key := TokenKey(tc.endpoint, appid)
			for i := 0; i < 2; i++ {
				if _, err := m.Token(context.Background(), key, fetch); err == nil {
					t.Fatal("want an error")
				}
			}
			w := warnings(logs, "could not be obtained")
			if len(w) != 2 {
				t.Fatalf("%d warnings for 2 failed fetches: %v", len(w), logs.All())
			}
			fields := w[0].ContextMap()
			if fields["app_id"] != appid || fields[tc.field] != tc.want {
				t.Fatalf("warning fields %v, want app_id %s and %s %v", fields, appid, tc.field, tc.want)
			}
			for _, e := range logs.All() {
				if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), wrong) {
					t.Fatalf("a log line holds the secret: %v", e)
				}
			}
		})
	}
}

// A session key that cannot be stored does not fail the login: it is kept
// in memory and a warning is logged.
func TestSessionKeysStorageCannotStore(t *testing.T) {
	mr, open := newRedis(t)
	for _, tc := range []struct {
		name string
		st   Storage
		stop func()
	}{
		{"read-only", readOnly{&certmagic.FileStorage{Path: t.TempDir()}}, func() {}},
		{"redis down", open(), mr.Close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk, err := NewSessionKeys(nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sk.Close)
			log, logs := observed()
			t.Cleanup(sk.UseStorage(tc.st, log))
			tc.stop()
			const key = "c2Vzc2lvbi1rZXktc2VjcmV0LTE2"
			sk.Put(context.Background(), "wx1", "openid-1", key)
			if got, ok := sk.Get(context.Background(), "wx1", "openid-1"); !ok || got != key {
				t.Fatalf("session key not kept in memory: %q %v", got, ok)
			}
			w := warnings(logs, "session key not stored")
			if len(w) != 1 {
				t.Fatalf("warnings %v, want one", logs.All())
			}
			if s := fmt.Sprint(w[0].ContextMap()); strings.Contains(s, key) || strings.Contains(s, "openid-1") {
				t.Fatalf("the warning holds the session key or the openid: %s", s)
			}
		})
	}
}

func TestAppIDOf(t *testing.T) {
	if got := appIDOf(TokenKey("https://api.weixin.qq.com", "wx123")); got != "wx123" {
		t.Fatalf("appIDOf = %q", got)
	}
	if got := appIDOf("plain"); got != "plain" {
		t.Fatalf("appIDOf = %q", got)
	}
}
