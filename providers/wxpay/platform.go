package wxpay

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/caddy-unicloud/unicloud/signing"
)

// Platform key defaults.
const (
	// DefaultPlatformRefreshInterval is how often downloaded platform
	// certificates are replaced by a new download (WeChat Pay recommends
	// at most every 12 hours; a new certificate is published well before
	// the old one expires).
	DefaultPlatformRefreshInterval = 12 * time.Hour
	// DefaultPlatformMinRefresh is the shortest time between two refreshes
	// caused by an unknown serial: anyone can send a notification with a
	// made-up Wechatpay-Serial.
	DefaultPlatformMinRefresh = time.Minute
	// DefaultPlatformRetry is how long the background refresh waits after a
	// failed download.
	DefaultPlatformRetry = time.Minute
	// DefaultPlatformFirstDownload is how long after Start the background
	// refresh makes the first download when nothing asked for the keys
	// before (so that `caddy validate`, which provisions and stops at once,
	// makes no network call).
	DefaultPlatformFirstDownload = 10 * time.Second
	// PublicKeyIDPrefix starts the serial of a WeChat Pay public key (the
	// 2024-25 public-key mode) as sent in Wechatpay-Serial.
	PublicKeyIDPrefix = "PUB_KEY_ID_"
)

// PlatformStorage is the part of certmagic.Storage (Caddy's configured
// storage) that the platform store uses: instances sharing a storage share
// the downloaded certificates, and serialise downloads with its lock.
type PlatformStorage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
}

// PlatformKey is one WeChat Pay platform key: a public key named by its
// "PUB_KEY_ID_…" (no validity dates), or a platform certificate named by
// its serial number (usable between NotBefore and NotAfter).
type PlatformKey struct {
	Serial    string
	PublicKey *rsa.PublicKey
	// Certificate is the platform certificate, nil for a public key.
	Certificate *x509.Certificate
	NotBefore   time.Time // zero: no lower bound
	NotAfter    time.Time // zero: no upper bound
}

// usable reports whether k may verify a signature at t.
func (k *PlatformKey) usable(t time.Time) bool {
	if !k.NotBefore.IsZero() && t.Before(k.NotBefore) {
		return false
	}
	return k.NotAfter.IsZero() || t.Before(k.NotAfter)
}

// ParsePlatformKey reads a configured platform key (platform_key <serial>
// <pem>): an RSA public key (PUB_KEY_ID_… serials) or a platform
// certificate, PEM or bare base64. A certificate's serial must be the one
// configured; its validity dates are kept.
func ParsePlatformKey(serial, pemOrBase64 string) (PlatformKey, error) {
	serial = strings.TrimSpace(serial)
	if serial == "" {
		return PlatformKey{}, errors.New("platform key: empty serial")
	}
	if c, err := signing.ParseCertificate(pemOrBase64); err == nil {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return PlatformKey{}, fmt.Errorf("platform key %s: the certificate's key is not RSA", serial)
		}
		if !strings.HasPrefix(serial, PublicKeyIDPrefix) && !sameSerial(serial, c) {
			return PlatformKey{}, fmt.Errorf("platform key %s: the certificate's serial is %s", serial, signing.CertificateSerialNo(c))
		}
		return PlatformKey{Serial: serial, PublicKey: pub, Certificate: c, NotBefore: c.NotBefore, NotAfter: c.NotAfter}, nil
	}
	pub, err := signing.ParseRSAPublicKey(pemOrBase64)
	if err != nil {
		return PlatformKey{}, fmt.Errorf("platform key %s: %w", serial, err)
	}
	return PlatformKey{Serial: serial, PublicKey: pub}, nil
}

// PlatformKeySet is a fixed set of configured platform keys (see
// ParsePlatformKey), found by serial in any letter case; a certificate is
// used only within its validity dates.
type PlatformKeySet map[string]PlatformKey

// Add puts k in the set.
func (s PlatformKeySet) Add(k PlatformKey) { s[strings.ToUpper(k.Serial)] = k }

// PlatformKey implements PlatformKeySource.
func (s PlatformKeySet) PlatformKey(serial string, at time.Time) (*rsa.PublicKey, bool) {
	k, ok := s[strings.ToUpper(serial)]
	if !ok || !k.usable(at) {
		return nil, false
	}
	return k.PublicKey, true
}

// sameSerial reports whether the hex serial (as WeChat Pay writes it,
// maybe with leading zeros) is c's serial number.
func sameSerial(serialHex string, c *x509.Certificate) bool {
	want, ok := new(big.Int).SetString(serialHex, 16)
	return ok && c.SerialNumber != nil && want.Cmp(c.SerialNumber) == 0
}

// PlatformAuto is what downloading the platform certificates needs
// (platform_certs auto): the merchant's API key pair to sign the request,
// the APIv3 key to decrypt the certificates and, optionally, the root the
// certificates must chain to.
type PlatformAuto struct {
	// SerialNo is the merchant API certificate serial (serial_no).
	SerialNo string
	// PrivateKey is the merchant API private key.
	PrivateKey *rsa.PrivateKey
	// APIv3Key decrypts the downloaded certificates (32 bytes).
	APIv3Key string
	// Root, when set, is the CA (platform_root) every downloaded
	// certificate must chain to.
	Root *x509.CertPool
	// HTTP makes the download (default: a client with a 10s timeout).
	HTTP *http.Client
	// MaxSkew is how far the download answer's Wechatpay-Timestamp may be
	// from now (default 5m).
	MaxSkew time.Duration
}

// PlatformRegistration is what one handler brings to the store of its
// merchant: configured keys, and the download credentials when it has
// platform_certs auto.
type PlatformRegistration struct {
	Keys []PlatformKey
	Auto *PlatformAuto
	// Storage is the shared storage of the handler's config. The latest
	// registration that has one is used, so a config that fails to load
	// (and unregisters) never leaves its storage behind.
	Storage PlatformStorage
}

// PlatformEvents receives what the store does, for logs and metrics. Any
// field may be nil. No argument ever holds a secret.
type PlatformEvents struct {
	// Download is called after each download attempt: result is "ok" or
	// "error", err the reason of an error.
	Download func(result string, err error)
	// Shared is called when certificates were taken from the shared
	// storage instead of being downloaded.
	Shared func()
	// Dropped is called for a certificate that was not kept (expired, not
	// chaining to the root, …).
	Dropped func(serial, reason string)
	// StorageFailed is called when downloaded certificates could not be
	// written to the shared storage (they are used from memory).
	StorageFailed func(err error)
}

// ErrPlatformRateLimited is the answer of RefreshPlatformKeys when the
// previous refresh was too recent.
var ErrPlatformRateLimited = errors.New("wxpay: platform certificates were refreshed less than a minute ago")

// ErrPlatformNoAuto is the answer of RefreshPlatformKeys when no handler of
// the merchant has platform_certs auto: there is nothing to download.
var ErrPlatformNoAuto = errors.New("wxpay: platform_certs auto is not configured for this merchant")

// PlatformStore holds the platform keys of one merchant (endpoint +
// mch_id) for every handler of it: configured keys (public keys and
// certificates, side by side) and, with platform_certs auto, the
// certificates downloaded from /v3/certificates, kept in memory and in the
// shared storage. It implements PlatformKeyRefresher. Nothing is
// downloaded when it is made: at first use (RefreshPlatformKeys) or by the
// background refresh (Start).
type PlatformStore struct {
	endpoint string
	mchID    string
	name     string // storage key / lock name stem

	// RefreshInterval is how old downloaded certificates may get before
	// the background refresh replaces them (default 12h).
	RefreshInterval time.Duration
	// MinRefresh is the shortest time between two refreshes asked by
	// RefreshPlatformKeys (default 1m).
	MinRefresh time.Duration
	// Retry is the wait after a failed background download (default 1m).
	Retry time.Duration
	// FirstDownload is the delay of the first background download when
	// nothing asked for the keys before (default 10s).
	FirstDownload time.Duration
	// LockTimeout bounds the wait for the storage lock (default 30s).
	LockTimeout time.Duration
	Events      PlatformEvents

	now   func() time.Time
	group singleflight.Group
	// after starts the background refresh's timer (time.NewTimer; tests
	// replace it to fire it themselves) and runDone, when set, is called
	// when the background refresh has stopped.
	after   func(time.Duration) (<-chan time.Time, func())
	runDone func()

	mu         sync.Mutex
	regs       map[uint64]PlatformRegistration
	order      []uint64 // registration order: the latest auto wins
	nextID     uint64
	storage    PlatformStorage
	downloaded []PlatformKey
	fetchedAt  time.Time // of downloaded (here or by another instance)
	loaded     bool      // a refresh has run (successfully or not)
	lastAsked  time.Time // last refresh asked by RefreshPlatformKeys
	// lastLearned: that refresh brought a serial not known before it (a
	// first download, a rotation). The rate limit holds only after a
	// refresh that learned nothing, so a rotation right after the first
	// download is still picked up, while made-up serials cost at most one
	// fruitless download a minute.
	lastLearned bool
	lastErr     time.Time // last failed refresh
	changed     chan struct{}

	snap atomic.Pointer[map[string]*PlatformKey]
}

// NewPlatformStore makes the store of the merchant mchID at endpoint
// (default DefaultEndpoint). It makes no network call.
func NewPlatformStore(endpoint, mchID string) *PlatformStore {
	endpoint = strings.TrimRight(endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	sum := sha256.Sum256([]byte(endpoint))
	s := &PlatformStore{
		endpoint:        endpoint,
		mchID:           mchID,
		name:            "unicloud/wxpay/platform/" + safeName(mchID) + "-" + hex.EncodeToString(sum[:8]),
		RefreshInterval: DefaultPlatformRefreshInterval,
		MinRefresh:      DefaultPlatformMinRefresh,
		Retry:           DefaultPlatformRetry,
		FirstDownload:   DefaultPlatformFirstDownload,
		LockTimeout:     30 * time.Second,
		now:             time.Now,
		after:           newTimer,
		regs:            make(map[uint64]PlatformRegistration),
		changed:         make(chan struct{}, 1),
	}
	empty := map[string]*PlatformKey{}
	s.snap.Store(&empty)
	return s
}

// safeName keeps the characters of a storage key that every storage
// accepts.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Endpoint is the API host of the store's merchant.
func (s *PlatformStore) Endpoint() string { return s.endpoint }

// MchID is the store's merchant id.
func (s *PlatformStore) MchID() string { return s.mchID }

// Register adds what one handler brings. The returned function removes it
// again (the handler's Cleanup). With several registrations carrying
// download credentials, the latest one is used.
func (s *PlatformStore) Register(r PlatformRegistration) (unregister func(), err error) {
	for _, k := range r.Keys {
		if k.Serial == "" || k.PublicKey == nil {
			return nil, errors.New("platform key without serial or key")
		}
	}
	if a := r.Auto; a != nil {
		switch {
		case s.mchID == "":
			return nil, errors.New("platform_certs auto needs mch_id")
		case a.SerialNo == "":
			return nil, errors.New("platform_certs auto needs serial_no (the merchant API certificate serial)")
		case a.PrivateKey == nil:
			return nil, errors.New("platform_certs auto needs private_key (the merchant API private key)")
		case len(a.APIv3Key) != 32:
			return nil, errors.New("platform_certs auto needs api_v3_key (32 bytes)")
		}
	}
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.regs[id] = r
	s.order = append(s.order, id)
	s.rebuildLocked()
	s.mu.Unlock()
	s.signalChange()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.regs, id)
			for i, o := range s.order {
				if o == id {
					s.order = append(s.order[:i:i], s.order[i+1:]...)
					break
				}
			}
			s.rebuildLocked()
			s.mu.Unlock()
			s.signalChange()
		})
	}, nil
}

func (s *PlatformStore) signalChange() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// autoLocked is the download credentials of the latest registration that
// has them, or nil.
func (s *PlatformStore) autoLocked() *PlatformAuto {
	for i := len(s.order) - 1; i >= 0; i-- {
		if a := s.regs[s.order[i]].Auto; a != nil {
			return a
		}
	}
	return nil
}

// storageLocked is the storage of the latest registration that has one,
// else the one given to SetStorage.
func (s *PlatformStore) storageLocked() PlatformStorage {
	for i := len(s.order) - 1; i >= 0; i-- {
		if st := s.regs[s.order[i]].Storage; st != nil {
			return st
		}
	}
	return s.storage
}

// Auto reports whether some registration has platform_certs auto.
func (s *PlatformStore) Auto() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.autoLocked() != nil
}

// rebuildLocked publishes a new lookup map: downloaded certificates, then
// configured keys (a configured key wins over a downloaded one of the same
// serial).
func (s *PlatformStore) rebuildLocked() {
	m := make(map[string]*PlatformKey, len(s.downloaded)+len(s.regs))
	for i := range s.downloaded {
		k := s.downloaded[i]
		m[strings.ToUpper(k.Serial)] = &k
	}
	for _, id := range s.order {
		for _, k := range s.regs[id].Keys {
			k := k
			m[strings.ToUpper(k.Serial)] = &k
		}
	}
	s.snap.Store(&m)
}

// PlatformKey implements PlatformKeySource: the key named by serial
// (compared case-insensitively), when it is within its validity dates.
func (s *PlatformStore) PlatformKey(serial string, at time.Time) (*rsa.PublicKey, bool) {
	m := *s.snap.Load()
	k, ok := m[serial]
	if !ok {
		if up := strings.ToUpper(serial); up != serial {
			k, ok = m[up]
		}
		if !ok {
			return nil, false
		}
	}
	if !k.usable(at) {
		return nil, false
	}
	return k.PublicKey, true
}

// Keys returns the keys the store knows now, configured and downloaded
// (tests, diagnostics).
func (s *PlatformStore) Keys() []PlatformKey {
	m := *s.snap.Load()
	out := make([]PlatformKey, 0, len(m))
	for _, k := range m {
		out = append(out, *k)
	}
	return out
}

// FetchedAt is when the certificates in memory were downloaded (here or
// by another instance sharing the storage); zero when none were.
func (s *PlatformStore) FetchedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetchedAt
}

// RefreshPlatformKeys implements PlatformKeyRefresher: it takes newer
// certificates from the shared storage or downloads them, at most once per
// MinRefresh (the first load is never limited). Concurrent callers share
// one refresh.
func (s *PlatformStore) RefreshPlatformKeys(ctx context.Context) error {
	ch := s.group.DoChan("refresh", func() (any, error) {
		s.mu.Lock()
		auto := s.autoLocked()
		if auto == nil {
			s.mu.Unlock()
			return nil, ErrPlatformNoAuto
		}
		now := s.now()
		recent := s.loaded && !s.lastAsked.IsZero() && now.Sub(s.lastAsked) < s.MinRefresh
		if recent && !s.lastLearned {
			s.mu.Unlock()
			return nil, ErrPlatformRateLimited
		}
		s.lastAsked = now
		known := make(map[string]bool, len(s.downloaded))
		for _, k := range s.downloaded {
			known[k.Serial] = true
		}
		s.mu.Unlock()
		// The refresh outlives a caller that gives up.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.LockTimeout+30*time.Second)
		defer cancel()
		// The limit above has decided: a download younger than a minute
		// (the background refresh's, another instance's) does not stop
		// this one.
		err := s.refresh(rctx, true)
		s.mu.Lock()
		s.lastLearned = false
		for _, k := range s.downloaded {
			if !known[k.Serial] {
				s.lastLearned = true
			}
		}
		s.mu.Unlock()
		return nil, err
	})
	select {
	case <-ctx.Done():
		return ctx.Err()
	case res := <-ch:
		return res.Err
	}
}
