package wxpay

import (
	"crypto/rsa"
	"strings"
	"time"
)

// SetPlatformTimer replaces the background refresh's timer of s: after is
// asked for each wait and returns the channel that fires it and its stop.
func SetPlatformTimer(s *PlatformStore, after func(time.Duration) (<-chan time.Time, func())) {
	s.after = after
}

// OnPlatformRunDone makes s call done when its background refresh stops.
func OnPlatformRunDone(s *PlatformStore, done func()) { s.runDone = done }

// SetClock replaces the clock of s.
func (s *PlatformStore) SetClock(now func() time.Time) { s.now = now }

// SetStorage replaces the shared storage of s; nil keeps the certificates
// in memory only.
func (s *PlatformStore) SetStorage(st PlatformStorage) {
	s.mu.Lock()
	s.storage = st
	s.mu.Unlock()
}

// Now is the store's clock.
func (s *PlatformStore) Now() time.Time { return s.now() }

// StaticPlatformKeys is a fixed set of platform public keys by serial (any
// letter case), usable at any time: the tests' stand-in for the keys a
// merchant has.
type StaticPlatformKeys map[string]*rsa.PublicKey

// PlatformKey implements PlatformKeySource.
func (s StaticPlatformKeys) PlatformKey(serial string, _ time.Time) (*rsa.PublicKey, bool) {
	for sn, k := range s {
		if strings.EqualFold(sn, serial) {
			return k, true
		}
	}
	return nil, false
}
