package weixin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// UserToken is a user's access and refresh token of one platform app, from
// /sns/oauth2/access_token or /sns/oauth2/refresh_token.
type UserToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"` // the access token's
}

// UserTokens keeps the user tokens of web authorization and open-platform
// login by (endpoint, appid, openid), so that callers never hold them:
// <p>.oauth.getUserInfo takes an openid. They live in memory and, when a
// storage is set, in the shared storage (the login and getUserInfo may
// reach different instances). A record is kept for KeepFor after the
// login or the last refresh: the life of WeChat's refresh_token.
type UserTokens struct {
	cache   *ristretto.Cache[string, UserToken]
	storage storages
	// KeepFor is how long a record is kept (default 30 days, the
	// refresh_token's life).
	KeepFor time.Duration
	// Margin: an access token this close to its expiry is refreshed
	// before use (default 5 minutes).
	Margin time.Duration
	now    func() time.Time
	// group makes one refresh per user at a time (Refresh).
	group singleflight.Group
}

// NewUserTokens makes a user token store; storage may be nil.
func NewUserTokens(storage Storage) (*UserTokens, error) {
	cache, err := ristretto.NewCache(&ristretto.Config[string, UserToken]{
		NumCounters: 1_000_000,
		MaxCost:     100_000, // entries
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &UserTokens{
		cache: cache, storage: storages{base: storage},
		KeepFor: 30 * 24 * time.Hour, Margin: 5 * time.Minute, now: time.Now,
	}, nil
}

// UseStorage makes st the shared storage (nil: memory only) and log the
// logger while the caller holds them (see TokenManager.UseStorage).
func (s *UserTokens) UseStorage(st Storage, log *zap.Logger) (release func()) {
	return s.storage.use(st, log)
}

// Close releases the memory cache.
func (s *UserTokens) Close() { s.cache.Close() }

// Now is the store's clock (the start of a token's life).
func (s *UserTokens) Now() time.Time { return s.now() }

// Expired reports whether t is past its expiry less the margin.
func (s *UserTokens) Expired(t UserToken) bool {
	return !s.now().Before(t.ExpiresAt.Add(-s.Margin))
}

// userTokenID hashes the key: neither the openid nor a token is in a
// storage path or a log line.
func userTokenID(endpoint, appid, openid string) string {
	sum := sha256.Sum256([]byte(endpoint + "\x00" + appid + "\x00" + openid))
	return hex.EncodeToString(sum[:16])
}

func userTokenStorageKey(id string) string { return "unicloud/user_tokens/" + id + ".json" }

type storedUserToken struct {
	UserToken
	KeepUntil time.Time `json:"keep_until"`
}

// Put keeps t for openid of appid at endpoint, replacing what was kept. A
// storage that cannot store it does not fail the login: the token is kept
// in this instance's memory and a warning is logged.
func (s *UserTokens) Put(ctx context.Context, endpoint, appid, openid string, t UserToken) {
	id := userTokenID(endpoint, appid, openid)
	s.cache.SetWithTTL(id, t, 1, s.KeepFor)
	s.cache.Wait()
	st, log := s.storage.current()
	if st == nil {
		return
	}
	raw, err := json.Marshal(storedUserToken{UserToken: t, KeepUntil: s.now().Add(s.KeepFor)})
	if err == nil {
		err = st.Store(ctx, userTokenStorageKey(id), raw)
	}
	if err != nil {
		log.Warn("user token not stored; kept in this instance's memory only",
			zap.String("app_id", appid), zap.String("user", id), zap.Error(err))
	}
}

// Get returns the token kept for openid of appid at endpoint: memory first,
// then the storage.
func (s *UserTokens) Get(ctx context.Context, endpoint, appid, openid string) (UserToken, bool) {
	id := userTokenID(endpoint, appid, openid)
	if t, ok := s.cache.Get(id); ok {
		return t, true
	}
	store, _ := s.storage.current()
	if store == nil {
		return UserToken{}, false
	}
	return s.fromStorage(ctx, store, id)
}

// fromStorage reads the record id from store into memory; ok is false
// for none, an unreadable one or one past its keep-until (a storage that
// keeps files forever): the user logs in again.
func (s *UserTokens) fromStorage(ctx context.Context, store Storage, id string) (UserToken, bool) {
	raw, err := store.Load(ctx, userTokenStorageKey(id))
	if err != nil {
		return UserToken{}, false
	}
	var rec storedUserToken
	now := s.now()
	if json.Unmarshal(raw, &rec) != nil || rec.AccessToken == "" || !now.Before(rec.KeepUntil) {
		return UserToken{}, false
	}
	s.cache.SetWithTTL(id, rec.UserToken, 1, rec.KeepUntil.Sub(now))
	s.cache.Wait()
	return rec.UserToken, true
}

// Delete drops what is kept for openid of appid at endpoint (a refused
// refresh: the user must log in again).
func (s *UserTokens) Delete(ctx context.Context, endpoint, appid, openid string) {
	id := userTokenID(endpoint, appid, openid)
	s.cache.Del(id)
	s.cache.Wait()
	if st, log := s.storage.current(); st != nil {
		if err := st.Delete(ctx, userTokenStorageKey(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("user token not deleted from the storage", zap.String("app_id", appid), zap.String("user", id), zap.Error(err))
		}
	}
}

// RefreshFunc exchanges stale's refresh token for a new token. It keeps
// the new token (Put) or drops the record (Delete) itself.
type RefreshFunc func(ctx context.Context, stale UserToken) (UserToken, error)

// Refresh replaces stale, the token kept for openid of appid at endpoint,
// by what refresh makes of it, one refresh per user at a time in this
// process: callers holding the same stale token wait for that one refresh
// and share its result (a provider may refuse a refresh token used twice,
// and a refusal drops the record for everyone). A caller whose stale
// token was already replaced, by this instance or by another sharing the
// storage, gets the kept token and refreshes nothing; refreshed reports
// whether a refresh ran for it. The refresh outlives a caller that gives
// up.
func (s *UserTokens) Refresh(ctx context.Context, endpoint, appid, openid string, stale UserToken, refresh RefreshFunc) (t UserToken, refreshed bool, err error) {
	id := userTokenID(endpoint, appid, openid)
	type result struct {
		t         UserToken
		refreshed bool
	}
	ch := s.group.DoChan(id, func() (any, error) {
		fctx := context.WithoutCancel(ctx)
		if cur, ok := s.replaced(fctx, id, stale); ok {
			return result{t: cur}, nil
		}
		t, err := refresh(fctx, stale)
		return result{t: t, refreshed: true}, err
	})
	select {
	case <-ctx.Done():
		return stale, false, ctx.Err()
	case res := <-ch:
		r, _ := res.Val.(result)
		return r.t, r.refreshed, res.Err
	}
}

// replaced returns the token kept for id when it is another, usable one
// than stale: memory first, then the storage (another instance's refresh).
func (s *UserTokens) replaced(ctx context.Context, id string, stale UserToken) (UserToken, bool) {
	usable := func(t UserToken) bool { return t.AccessToken != stale.AccessToken && !s.Expired(t) }
	if t, ok := s.cache.Get(id); ok && usable(t) {
		return t, true
	}
	if store, _ := s.storage.current(); store != nil {
		if t, ok := s.fromStorage(ctx, store, id); ok && usable(t) {
			return t, true
		}
	}
	return UserToken{}, false
}
