package weixin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"
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

// Credential is a kind of credential the authority holds: an access token,
// a JS-SDK ticket. Each kind is held the same way (memory, storage, one
// fetch, refresh ahead) under its own key (CredentialKey).
type Credential string

const (
	// CredentialAccessToken is an app's access token
	// (/cgi-bin/stable_token or /cgi-bin/token).
	CredentialAccessToken Credential = "access_token"
	// CredentialJSAPITicket is an official account's JS-SDK jsapi_ticket
	// (/cgi-bin/ticket/getticket?type=jsapi).
	CredentialJSAPITicket Credential = "jsapi_ticket"
)

// Token is a credential (an access token, a ticket) with its expiry.
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
	// Fetch is called after each call to the provider: kind is the
	// credential's (access_token, jsapi_ticket), result "ok" or "error".
	Fetch func(kind Credential, result string)
	// Shared is called when a credential was taken from the shared storage
	// instead of being fetched.
	Shared func(kind Credential)
}

// TokenManager is the token authority: one credential per key (endpoint,
// appid and kind: see CredentialKey), served from memory first, then from the shared storage, and
// fetched from the provider only when neither has a usable one. Concurrent
// misses in this process make one fetch (singleflight); across instances a
// refresh holds the storage lock and re-checks the storage after taking it.
//
// A storage that fails never stops the tokens: when its lock cannot be
// taken within LockWait (an error, or a dead instance's lock that has not
// expired yet) or the token cannot be stored, the token is fetched anyway,
// kept in memory and served, and a warning is logged. That is safe in
// either token mode: stable_token hands every caller the same token, and a
// classic /cgi-bin/token fetch leaves the previous token working for five
// more minutes, in which the instances that hold it meet the new one in the
// storage at their next 40001 (Invalidate reads the storage first). Waiting
// for a dead holder's lock instead would fail every call until the lock
// expires (a minute for a typical Redis storage).
type TokenManager struct {
	cache   *ristretto.Cache[string, Token]
	group   singleflight.Group
	mu      sync.Mutex // serialises memory set/compare-and-drop
	storage storages   // none: memory only

	// RefreshAhead: a token closer than this to its expiry is replaced. The
	// token is still served while the replacement is fetched.
	RefreshAhead time.Duration
	// LockWait bounds how long a refresh waits for the storage lock before
	// it fetches without it (see TokenManager).
	LockWait time.Duration
	Events   TokenEvents
	now      func() time.Time
	// refreshing: key -> struct{}, background refreshes under way.
	refreshing sync.Map
	// knownBad: key -> token value the provider rejected, until replaced.
	knownBad sync.Map
	// refreshed, when set, is called when a background refresh has ended
	// (tests wait on it).
	refreshed func(key string)
}

// DefaultLockWait is how long a refresh waits for the storage lock by
// default: long enough for a live instance's fetch, short enough that a
// caller never sees a dead instance's lock.
const DefaultLockWait = 3 * time.Second

// fetchBound bounds one load beyond the lock wait: the fetch itself (the
// FetchFunc bounds its own call) and the storage's answers.
const fetchBound = 30 * time.Second

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
		LockWait:     DefaultLockWait,
		now:          time.Now,
	}, nil
}

// UseStorage makes st the shared storage (nil: memory only) and log the
// logger of the authority while the caller holds them: the latest holder
// still alive wins. release gives them back (Cleanup).
func (m *TokenManager) UseStorage(st Storage, log *zap.Logger) (release func()) {
	return m.storage.use(st, log)
}

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
		// Known bad first: a call that misses memory from here on joins
		// this replacement instead of starting a fetch of its own.
		m.knownBad.Store(key, bad)
		m.cache.Del(key)
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
		defer func() {
			m.refreshing.Delete(key)
			if m.refreshed != nil {
				m.refreshed(key)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), m.LockWait+fetchBound)
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
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.LockWait+fetchBound)
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
	st, log := m.storage.current()
	if st == nil {
		return m.fetch(ctx, key, bad, fetch, nil, log)
	}
	if t, ok := m.fromStorage(ctx, st, key); ok && t.Value != bad && m.fresh(t) {
		m.remember(key, t)
		m.sharedEvent(key)
		return t, nil
	}
	lockCtx, cancel := context.WithTimeout(ctx, m.LockWait)
	lockName := "unicloud/token/" + key
	err := st.Lock(lockCtx, lockName)
	cancel()
	if err != nil {
		// A live holder has probably stored its token by now.
		if t, ok := m.fromStorage(ctx, st, key); ok && t.Value != bad && m.fresh(t) {
			m.remember(key, t)
			m.sharedEvent(key)
			return t, nil
		}
		// The storage is broken or the lock's holder is dead: fetch
		// without the lock rather than fail the call (see TokenManager).
		log.Warn("storage lock not taken; fetching the "+kindOf(key).name()+" without it",
			zap.String("app_id", appIDOf(key)), zap.String("lock", lockName),
			zap.Duration("waited", m.LockWait), zap.Error(err))
		return m.fetch(ctx, key, bad, fetch, st, log)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), lockName) }()
	// Re-check after locking: the instance that held the lock before us
	// has probably stored a fresh token.
	if t, ok := m.fromStorage(ctx, st, key); ok && t.Value != bad && m.fresh(t) {
		m.remember(key, t)
		m.sharedEvent(key)
		return t, nil
	}
	return m.fetch(ctx, key, bad, fetch, st, log)
}

func (m *TokenManager) fetch(ctx context.Context, key, bad string, fetch FetchFunc, st Storage, log *zap.Logger) (Token, error) {
	t, err := m.fetchOnce(ctx, key, fetch, false, log)
	if err == nil && bad != "" && t.Value == bad {
		// The provider still hands out the token it just rejected
		// (stable_token without force_refresh): ask for a new one.
		t, err = m.fetchOnce(ctx, key, fetch, true, log)
	}
	if err != nil {
		return Token{}, err
	}
	if t.Value == "" || !m.valid(t) {
		log.Warn("the provider returned an empty or expired "+kindOf(key).name(), zap.String("app_id", appIDOf(key)))
		return Token{}, errors.New("provider returned an empty or expired token")
	}
	if st != nil {
		raw, err := json.Marshal(t)
		if err == nil {
			err = st.Store(ctx, storageKey(key), raw)
		}
		if err != nil {
			// Served from this instance's memory; the other instances
			// fetch their own (the same one, in stable mode).
			log.Warn(kindOf(key).name()+" not stored; kept in memory only",
				zap.String("app_id", appIDOf(key)), zap.Error(err))
		}
	}
	m.remember(key, t)
	return t, nil
}

// fetchOnce calls the provider once, counts the call and logs a failure:
// one warning per failed fetch, with WeChat's errcode when it answered.
func (m *TokenManager) fetchOnce(ctx context.Context, key string, fetch FetchFunc, force bool, log *zap.Logger) (Token, error) {
	t, err := fetch(ctx, force)
	if err == nil {
		m.fetchEvent(key, "ok")
		return t, nil
	}
	m.fetchEvent(key, "error")
	fields := []zap.Field{zap.String("app_id", appIDOf(key)), zap.Bool("force_refresh", force)}
	var te *TokenError
	var ue *UpstreamError
	switch {
	case errors.As(err, &te):
		fields = append(fields, zap.Int64("errcode", te.ErrCode), zap.String("errmsg", truncate(te.ErrMsg, 200)))
	case errors.As(err, &ue):
		fields = append(fields, zap.String("reason", ue.Reason))
	default:
		fields = append(fields, zap.Error(err))
	}
	log.Warn(kindOf(key).name()+" could not be obtained", fields...)
	return Token{}, err
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

func (m *TokenManager) fetchEvent(key, result string) {
	if m.Events.Fetch != nil {
		m.Events.Fetch(kindOf(key), result)
	}
}

func (m *TokenManager) sharedEvent(key string) {
	if m.Events.Shared != nil {
		m.Events.Shared(kindOf(key))
	}
}

// TokenKey names the access token of appid at a provider endpoint. Tokens
// are per (endpoint, appid): an emulator's token is not WeChat's.
func TokenKey(endpoint, appid string) string {
	return CredentialKey(endpoint, appid, CredentialAccessToken)
}

// CredentialKey names the credential of a kind of appid at a provider
// endpoint. An access token's key is "<appid>-<endpoint hash>" (as it has
// always been, so stored tokens survive an upgrade); another kind's is
// prefixed with the kind: "jsapi_ticket/<appid>-<endpoint hash>".
func CredentialKey(endpoint, appid string, kind Credential) string {
	sum := sha256.Sum256([]byte(endpoint))
	key := appid + "-" + hex.EncodeToString(sum[:8])
	if kind == CredentialAccessToken || kind == "" {
		return key
	}
	return string(kind) + "/" + key
}

// kindOf is the kind of credential a key made by CredentialKey names.
func kindOf(key string) Credential {
	if i := strings.IndexByte(key, '/'); i > 0 {
		return Credential(key[:i])
	}
	return CredentialAccessToken
}

// name is the kind as logs and errors spell it.
func (k Credential) name() string {
	if k == CredentialAccessToken {
		return "access token"
	}
	return string(k)
}

// appIDOf is the appid part of a key made by CredentialKey (the whole key
// otherwise), for logs.
func appIDOf(key string) string {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		key = key[i+1:]
	}
	if i := strings.LastIndexByte(key, '-'); i > 0 {
		return key[:i]
	}
	return key
}

// truncate cuts s to at most n bytes, for logs of outside text.
func truncate(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// storageKey is where a token lives in the shared storage.
func storageKey(key string) string { return "unicloud/tokens/" + key + ".json" }
