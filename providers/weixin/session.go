package weixin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/signing"
)

// Code2Session calls /sns/jscode2session with the app's secret.
func (c *Client) Code2Session(ctx context.Context, appid, secret, jsCode string) (*Answer, error) {
	q := url.Values{
		"appid": {appid}, "secret": {secret}, "js_code": {jsCode}, "grant_type": {"authorization_code"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint()+"/sns/jscode2session?"+q.Encode(), nil)
	if err != nil {
		return nil, &UpstreamError{Reason: "bad provider request"}
	}
	a, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if !a.JSON {
		return nil, &UpstreamError{Reason: "code2Session answer is not JSON"}
	}
	return a, nil
}

// SessionKeys keeps the session keys that code2Session returned, by appid and
// openid, so that callers never need to hold them: decrypt.getPhoneNumber
// takes an openid. Keys live in memory and, when a storage is set, in the
// shared storage (the login and the decryption may reach different
// instances).
type SessionKeys struct {
	cache   *ristretto.Cache[string, string]
	storage storages
	// TTL is how long a session key is kept (WeChat's own session lasts
	// days at most; a new login replaces the key).
	TTL time.Duration
	now func() time.Time
}

// NewSessionKeys makes a session key store; storage may be nil.
func NewSessionKeys(storage Storage) (*SessionKeys, error) {
	cache, err := ristretto.NewCache(&ristretto.Config[string, string]{
		NumCounters: 1_000_000,
		MaxCost:     100_000, // entries
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &SessionKeys{cache: cache, storage: storages{base: storage}, TTL: 72 * time.Hour, now: time.Now}, nil
}

// UseStorage makes st the shared storage (nil: memory only) and log the
// logger while the caller holds them (see TokenManager.UseStorage).
func (s *SessionKeys) UseStorage(st Storage, log *zap.Logger) (release func()) {
	return s.storage.use(st, log)
}

// Close releases the memory cache.
func (s *SessionKeys) Close() { s.cache.Close() }

func sessionID(appid, openid string) string {
	sum := sha256.Sum256([]byte(appid + "\x00" + openid))
	return hex.EncodeToString(sum[:16])
}

type storedSession struct {
	SessionKey string    `json:"session_key"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Put remembers the session key of openid in appid. A storage that cannot
// store it does not fail the login: the key is kept in this instance's
// memory (a decryption that reaches another instance will not find it) and
// a warning is logged.
func (s *SessionKeys) Put(ctx context.Context, appid, openid, sessionKey string) {
	id := sessionID(appid, openid)
	s.cache.SetWithTTL(id, sessionKey, 1, s.TTL)
	s.cache.Wait()
	st, log := s.storage.current()
	if st == nil {
		return
	}
	raw, err := json.Marshal(storedSession{SessionKey: sessionKey, ExpiresAt: s.now().Add(s.TTL)})
	if err == nil {
		err = st.Store(ctx, sessionStorageKey(id), raw)
	}
	if err != nil {
		// The session id is a hash: neither the openid nor the key.
		log.Warn("session key not stored; kept in this instance's memory only",
			zap.String("app_id", appid), zap.String("session", id), zap.Error(err))
	}
}

func sessionStorageKey(id string) string { return "unicloud/sessions/" + id + ".json" }

// Get returns the session key of openid in appid.
func (s *SessionKeys) Get(ctx context.Context, appid, openid string) (string, bool) {
	id := sessionID(appid, openid)
	if k, ok := s.cache.Get(id); ok {
		return k, true
	}
	store, _ := s.storage.current()
	if store == nil {
		return "", false
	}
	raw, err := store.Load(ctx, sessionStorageKey(id))
	if err != nil {
		return "", false
	}
	// A key read back past its expiry (a storage that keeps files
	// forever) is absent: the caller logs in again.
	var st storedSession
	now := s.now()
	if json.Unmarshal(raw, &st) != nil || st.SessionKey == "" || !now.Before(st.ExpiresAt) {
		return "", false
	}
	s.cache.SetWithTTL(id, st.SessionKey, 1, st.ExpiresAt.Sub(now))
	return st.SessionKey, true
}

// ErrWatermark: the decrypted data belongs to another mini-program.
var ErrWatermark = errors.New("watermark appid does not match")

// DecryptPhoneNumber decrypts a mini-program's encryptedData (getPhoneNumber
// button, old style) and checks that its watermark names appid. It returns
// the decrypted JSON object.
func DecryptPhoneNumber(appid, sessionKey, encryptedData, iv string) ([]byte, error) {
	plain, err := signing.DecryptMiniProgramData(sessionKey, iv, encryptedData)
	if err != nil {
		return nil, err
	}
	if !json.Valid(plain) { // not gjson.ValidBytes: it recurses without a depth limit
		return nil, signing.ErrDecrypt
	}
	if gjson.GetBytes(plain, "watermark.appid").String() != appid {
		return nil, ErrWatermark
	}
	return plain, nil
}
