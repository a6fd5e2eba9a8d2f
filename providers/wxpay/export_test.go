package wxpay

import "time"

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
