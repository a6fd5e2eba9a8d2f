package weixin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Storage is the part of certmagic.Storage (Caddy's configured storage) that
// the token authority uses. Instances of a cluster that share a storage share
// their tokens through it, and serialise refreshes with its lock.
type Storage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// Token is an access token with its expiry.
type Token struct {
	Value     string    `json:"value"`
	FetchedAt time.Time `json:"fetched_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// FetchFunc obtains a new token from the provider. force asks for a token
// different from the current one (stable_token's force_refresh); it is set
// only when the provider rejected the token it would otherwise return.
type FetchFunc func(ctx context.Context, force bool) (Token, error)

// TokenEvents receives what the authority does, for metrics. Any field may
// be nil.
type TokenEvents struct {
	// Fetch is called after each call to the provider: result is "ok" or
	// "error".
	Fetch func(result string)
	// Shared is called when a token was taken from the shared storage
	// instead of being fetched.
	Shared func()
}

// TokenManager is the token authority: one token per key (endpoint +
// appid), served from memory first, then from the shared storage, and
// fetched from the provider only when neither has a usable one. Concurrent
// misses in this process make one fetch (singleflight); across instances a
// refresh holds the storage lock and re-checks the storage after taking it.
type TokenManager struct {
	cache   *ristretto.Cache[string, Token]
	group   singleflight.Group
	mu      sync.Mutex // serialises memory set/compare-and-drop
	storage storages   // none: memory only

	// RefreshAhead: a token closer than this to its expiry is replaced. The
	// token is still served while the replacement is fetched.
	RefreshAhead time.Duration
	// LockTimeout bounds how long a refresh waits for the storage lock.
	LockTimeout time.Duration
	Events      TokenEvents
	now         func() time.Time
	refreshing  sync.Map // key -> struct{}: background refreshes under way
	knownBad    sync.Map // key -> token value the provider rejected, until replaced
}

// NewTokenManager makes a token authority. storage may be nil.
func NewTokenManager(storage Storage) (*TokenManager, error) {
	cache, err := ristretto.NewCache(&ristretto.Config[string, Token]{
		NumCounters: 10_000,
		MaxCost:     1 << 20,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &TokenManager{
		cache:        cache,
		storage:      storages{base: storage},
		RefreshAhead: 5 * time.Minute,
		LockTimeout:  30 * time.Second,
		now:          time.Now,
	}, nil
}

// UseStorage makes st the shared storage while the caller holds it: the
// latest holder still alive wins. release gives it back (Cleanup).
func (m *TokenManager) UseStorage(st Storage) (release func()) { return m.storage.use(st) }

// SetClock replaces the clock (tests).
func (m *TokenManager) SetClock(now func() time.Time) { m.now = now }

// Close releases the memory cache.
func (m *TokenManager) Close() { m.cache.Close() }

// fresh reports whether t can be served without refreshing.
func (m *TokenManager) fresh(t Token) bool {
	return t.Value != "" && m.now().Before(t.ExpiresAt.Add(-m.refreshAhead(t)))
}

// valid reports whether t has not expired yet.
func (m *TokenManager) valid(t Token) bool {
	return t.Value != "" && m.now().Before(t.ExpiresAt)
}

// refreshAhead is RefreshAhead, but at most a fifth of the token's lifetime,
// so that short-lived tokens (an emulator's, a test's) are still served.
func (m *TokenManager) refreshAhead(t Token) time.Duration {
	ahead := m.RefreshAhead
	if !t.FetchedAt.IsZero() {
		if fifth := t.ExpiresAt.Sub(t.FetchedAt) / 5; fifth < ahead {
			ahead = fifth
		}
	}
	return ahead
}

// Token returns a usable token for key, fetching it with fetch when neither
// memory nor the shared storage has one.
func (m *TokenManager) Token(ctx context.Context, key string, fetch FetchFunc) (Token, error) {
	if t, ok := m.cache.Get(key); ok {
		if m.fresh(t) {
			return t, nil
		}
		if m.valid(t) {
			// Refresh ahead of expiry: serve the current token and
			// replace it in the background (one refresh at a time).
			m.refreshInBackground(key, fetch)
			return t, nil
		}
	}
	return m.load(ctx, key, "", fetch)
}

// Peek returns the token in memory for key, if any (tests, metrics).
func (m *TokenManager) Peek(key string) (Token, bool) {
	return m.cache.Get(key)
}

// Invalidate drops the token bad for key, if it is still the current one,
// and returns a usable token other than bad. It is what a caller does when
// the provider answers that a token is invalid (40001, 40014, 42001): the
// next token is obtained once, however many calls failed with the same bad
// token at the same time. Until it is, bad is remembered as known bad, so
// that calls missing memory meanwhile join that one fetch instead of taking
// the bad token back from the shared storage.
func (m *TokenManager) Invalidate(ctx context.Context, key, bad string, fetch FetchFunc) (Token, error) {
	m.mu.Lock()
	if t, ok := m.cache.Get(key); ok && t.Value == bad {
		m.cache.Del(key)
		m.knownBad.Store(key, bad)
	}
	m.mu.Unlock()
	if t, ok := m.cache.Get(key); ok && t.Value != bad && m.valid(t) {
		// Another call already replaced it.
		return t, nil
	}
	return m.load(ctx, key, bad, fetch)
}

func (m *TokenManager) refreshInBackground(key string, fetch FetchFunc) {
	if _, busy := m.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	go func() {
		defer m.refreshing.Delete(key)
		ctx, cancel := context.WithTimeout(context.Background(), m.LockTimeout+30*time.Second)
		defer cancel()
		_, _ = m.load(ctx, key, "", fetch)
	}()
}

// load is the slow path, one per key at a time in this process.
func (m *TokenManager) load(ctx context.Context, key, bad string, fetch FetchFunc) (Token, error) {
	if bad == "" {
		if kb, ok := m.knownBad.Load(key); ok {
			bad = kb.(string)
		}
	}
	ch := m.group.DoChan(key+"\x00"+bad, func() (any, error) {
		// The singleflight call outlives a caller that gives up: it must
		// not be cancelled by the first caller's context.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.LockTimeout+30*time.Second)
		defer cancel()
		return m.loadLocked(fctx, key, bad, fetch)
	})
	select {
	case <-ctx.Done():
		return Token{}, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return Token{}, res.Err
		}
		return res.Val.(Token), nil
	}
}

func (m *TokenManager) loadLocked(ctx context.Context, key, bad string, fetch FetchFunc) (Token, error) {
	// Another caller of this process may have finished a load between our
	// miss and now.
	if t, ok := m.cache.Get(key); ok && t.Value != bad && m.fresh(t) {
		return t, nil
	}
	st := m.storage.current()
	if st == nil {
		return m.fetch(ctx, key, bad, fetch, nil)
	}
	if t, ok := m.fromStorage(ctx, st, key); ok && t.Value != bad && m.fresh(t) {
		m.remember(key, t)
		m.sharedEvent()
		return t, nil
	}
	lockCtx, cancel := context.WithTimeout(ctx, m.LockTimeout)
	defer cancel()
	lockName := "unicloud/token/" + key
	if err := st.Lock(lockCtx, lockName); err != nil {
		// Without the lock we may still serve a token that has not
		// expired yet rather than fail the call.
		if t, ok := m.fromStorage(ctx, st, key); ok && t.Value != bad && m.valid(t) {
			m.remember(key, t)
			return t, nil
		}
		return Token{}, fmt.Errorf("storage lock: %w", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), lockName) }()
	// Re-check after locking: the instance that held the lock before us
	// has probably stored a fresh token.
	if t, ok := m.fromStorage(ctx, st, key); ok && t.Value != bad && m.fresh(t) {
		m.remember(key, t)
		m.sharedEvent()
		return t, nil
	}
	return m.fetch(ctx, key, bad, fetch, st)
}

func (m *TokenManager) fetch(ctx context.Context, key, bad string, fetch FetchFunc, st Storage) (Token, error) {
	t, err := fetch(ctx, false)
	if err == nil && bad != "" && t.Value == bad {
		// The provider still hands out the token it just rejected
		// (stable_token without force_refresh): ask for a new one.
		m.fetchEvent("ok")
		t, err = fetch(ctx, true)
	}
	if err != nil {
		m.fetchEvent("error")
		return Token{}, err
	}
	m.fetchEvent("ok")
	if t.Value == "" || !m.valid(t) {
		return Token{}, errors.New("provider returned an empty or expired token")
	}
	if st != nil {
		if raw, err := json.Marshal(t); err == nil {
			_ = st.Store(ctx, storageKey(key), raw)
		}
	}
	m.remember(key, t)
	return t, nil
}

func (m *TokenManager) fromStorage(ctx context.Context, st Storage, key string) (Token, bool) {
	raw, err := st.Load(ctx, storageKey(key))
	if err != nil {
		return Token{}, false
	}
	var t Token
	if json.Unmarshal(raw, &t) != nil {
		return Token{}, false
	}
	return t, true
}

func (m *TokenManager) remember(key string, t Token) {
	ttl := t.ExpiresAt.Sub(m.now())
	if ttl <= 0 {
		return
	}
	m.mu.Lock()
	m.cache.SetWithTTL(key, t, 1, ttl)
	m.cache.Wait()
	if kb, ok := m.knownBad.Load(key); ok && kb.(string) != t.Value {
		m.knownBad.Delete(key)
	}
	m.mu.Unlock()
}

func (m *TokenManager) fetchEvent(result string) {
	if m.Events.Fetch != nil {
		m.Events.Fetch(result)
	}
}

func (m *TokenManager) sharedEvent() {
	if m.Events.Shared != nil {
		m.Events.Shared()
	}
}

// TokenKey names the token of appid at a provider endpoint. Tokens are per
// (endpoint, appid): an emulator's token is not WeChat's.
func TokenKey(endpoint, appid string) string {
	sum := sha256.Sum256([]byte(endpoint))
	return appid + "-" + hex.EncodeToString(sum[:8])
}

// storageKey is where a token lives in the shared storage.
func storageKey(key string) string { return "unicloud/tokens/" + key + ".json" }
