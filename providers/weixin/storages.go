package weixin

import (
	"sync"

	"go.uber.org/zap"
)

// storages holds the shared storage and the logger of each config that uses
// a process-wide authority (token manager, session keys): the most recently
// provisioned config still alive wins. A config that fails to load gives
// its storage back in its Cleanup, so the running config's storage is never
// replaced by a rejected one's.
type storages struct {
	mu    sync.RWMutex
	base  Storage // given at construction (tests, tools)
	order []uint64
	byID  map[uint64]holder
	next  uint64
}

type holder struct {
	st  Storage
	log *zap.Logger
}

// use adds st (nil: memory only) and log; release removes them again.
func (s *storages) use(st Storage, log *zap.Logger) (release func()) {
	s.mu.Lock()
	if s.byID == nil {
		s.byID = make(map[uint64]holder)
	}
	s.next++
	id := s.next
	s.byID[id] = holder{st: st, log: log}
	s.order = append(s.order, id)
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.byID, id)
			for i, o := range s.order {
				if o == id {
					s.order = append(s.order[:i:i], s.order[i+1:]...)
					break
				}
			}
			s.mu.Unlock()
		})
	}
}

// current is the storage in use (nil for memory only) and the logger to
// report its failures to (never nil).
func (s *storages) current() (Storage, *zap.Logger) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.order); n > 0 {
		h := s.byID[s.order[n-1]]
		if h.log == nil {
			h.log = zap.NewNop()
		}
		return h.st, h.log
	}
	return s.base, zap.NewNop()
}
