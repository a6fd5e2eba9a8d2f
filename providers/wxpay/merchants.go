package wxpay

import (
	"context"
	"crypto/rsa"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Merchants is a registry of merchants' platform key stores: one store per
// (endpoint, mch_id), shared by every payment client and notification
// verifier of the merchant, kept with its background refresh while one of
// them holds it (so across configuration reloads, when the new holder
// comes before the old one leaves). It is safe for concurrent use; the
// zero value is ready.
type Merchants struct {
	mu     sync.Mutex
	stores map[merchantKey]*merchantEntry // under mu
	// byMchID is mch_id → its stores at every endpoint (in a stable order),
	// rebuilt when a store comes or goes: the lookup of every notification.
	byMchID atomic.Pointer[map[string][]*PlatformStore]
}

type merchantKey struct{ endpoint, mchID string }

type merchantEntry struct {
	store  *PlatformStore
	refs   int
	cancel context.CancelFunc
}

// DefaultMerchants is the process's registry.
var DefaultMerchants = new(Merchants)

// normalEndpoint is endpoint without surrounding space and trailing
// slashes, or DefaultEndpoint.
func normalEndpoint(endpoint string) string {
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	if endpoint == "" {
		return DefaultEndpoint
	}
	return endpoint
}

// Acquire returns the store of the merchant mchID at endpoint (default
// DefaultEndpoint), making it on first use (setup, if not nil, configures
// it before its background refresh starts), and the function that gives it
// back: when the last holder has given it back, the background refresh
// stops and the store is forgotten. It makes no network call.
func (m *Merchants) Acquire(endpoint, mchID string, setup func(*PlatformStore)) (*PlatformStore, func()) {
	k := merchantKey{normalEndpoint(endpoint), mchID}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.stores[k]
	if e == nil {
		st := NewPlatformStore(k.endpoint, mchID)
		if setup != nil {
			setup(st)
		}
		// The store outlives whoever made it: its refresh stops with the
		// last release, not with a caller's context.
		bg, cancel := context.WithCancel(context.Background())
		st.Start(bg)
		e = &merchantEntry{store: st, cancel: cancel}
		if m.stores == nil {
			m.stores = make(map[merchantKey]*merchantEntry)
		}
		m.stores[k] = e
		m.indexLocked()
	}
	e.refs++
	var once sync.Once
	return e.store, func() { once.Do(func() { m.release(k, e) }) }
}

func (m *Merchants) release(k merchantKey, e *merchantEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.refs--
	if e.refs > 0 || m.stores[k] != e {
		return
	}
	e.cancel()
	delete(m.stores, k)
	m.indexLocked()
}

func (m *Merchants) indexLocked() {
	keys := make([]merchantKey, 0, len(m.stores))
	for k := range m.stores {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].endpoint != keys[j].endpoint {
			return keys[i].endpoint < keys[j].endpoint
		}
		return keys[i].mchID < keys[j].mchID
	})
	idx := make(map[string][]*PlatformStore)
	for _, k := range keys {
		idx[k.mchID] = append(idx[k.mchID], m.stores[k].store)
	}
	m.byMchID.Store(&idx)
}

// Lookup finds the live store of a merchant at endpoint, without taking a
// reference.
func (m *Merchants) Lookup(endpoint, mchID string) (*PlatformStore, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.stores[merchantKey{normalEndpoint(endpoint), mchID}]
	if !ok {
		return nil, false
	}
	return e.store, true
}

// Stores lists the live stores of a merchant at every endpoint, in a
// stable order, without taking a reference. The slice is shared: do not
// modify it.
func (m *Merchants) Stores(mchID string) []*PlatformStore {
	if idx := m.byMchID.Load(); idx != nil {
		return (*idx)[mchID]
	}
	return nil
}

// NotifyKeys is the platform key source of a notification verifier of the
// merchant mchID: its own keys (static) first, then the merchant's live
// stores, looked up at each notification (so that a store made later, or
// after a reload, counts). A serial none of them knows makes the stores
// refresh once (each rate-limits itself); when no store has
// platform_certs auto and there are no own keys, noKeys (if not nil) is
// called, at most once a minute, for the caller to say so.
func (m *Merchants) NotifyKeys(static PlatformKeySet, mchID string, noKeys func()) PlatformKeySource {
	return &notifyKeys{m: m, static: static, mchID: mchID, noKeys: noKeys}
}

type notifyKeys struct {
	m        *Merchants
	static   PlatformKeySet
	mchID    string
	noKeys   func()
	lastWarn atomic.Int64 // unix nanoseconds of the last noKeys call
}

// PlatformKey implements PlatformKeySource.
func (k *notifyKeys) PlatformKey(serial string, at time.Time) (*rsa.PublicKey, bool) {
	if len(k.static) > 0 {
		if pub, ok := k.static.PlatformKey(serial, at); ok {
			return pub, true
		}
	}
	for _, st := range k.m.Stores(k.mchID) {
		if pub, ok := st.PlatformKey(serial, at); ok {
			return pub, true
		}
	}
	return nil, false
}

// RefreshPlatformKeys implements PlatformKeyRefresher.
func (k *notifyKeys) RefreshPlatformKeys(ctx context.Context) error {
	var firstErr error
	auto := false
	for _, st := range k.m.Stores(k.mchID) {
		err := st.RefreshPlatformKeys(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrPlatformNoAuto) {
			auto = true
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if !auto && len(k.static) == 0 && k.noKeys != nil {
		now := time.Now().UnixNano()
		last := k.lastWarn.Load()
		if now-last > int64(time.Minute) && k.lastWarn.CompareAndSwap(last, now) {
			k.noKeys()
		}
	}
	if firstErr == nil {
		firstErr = ErrPlatformNoAuto
	}
	return firstErr
}

var (
	_ PlatformKeySource    = (*notifyKeys)(nil)
	_ PlatformKeyRefresher = (*notifyKeys)(nil)
)
