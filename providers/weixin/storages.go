package weixin

import "sync"

// storages holds the shared storage of each config that uses a process-wide
// authority (token manager, session keys): the most recently provisioned
// config still alive wins. A config that fails to load gives its storage
// back in its Cleanup, so the running config's storage is never replaced
// by a rejected one's.
type storages struct {
	mu    sync.RWMutex
	base  Storage // given at construction (tests, tools)
	order []uint64
	byID  map[uint64]Storage
	next  uint64
}

// use adds st; release removes it again.
func (s *storages) use(st Storage) (release func()) {
	s.mu.Lock()
	if s.byID == nil {
		s.byID = make(map[uint64]Storage)
	}
	s.next++
	id := s.next
	s.byID[id] = st
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

// current is the storage in use, or nil for memory only.
func (s *storages) current() Storage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.order); n > 0 {
		return s.byID[s.order[n-1]]
	}
	return s.base
}
