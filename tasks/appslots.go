package tasks

import "sync"

// appSlots counts the deliveries in flight per app in this process and
// bounds them, so a slow or dead endpoint holds at most max of the
// worker's slots while the other apps' deliveries keep flowing.
type appSlots struct {
	max int // 0: no limit
	mu  sync.Mutex
	n   map[int64]int
}

func newAppSlots(max int) *appSlots {
	return &appSlots{max: max, n: make(map[int64]int)}
}

// tryAcquire takes a slot of app and reports true, or reports false and
// the deliveries app has in flight when all its slots are taken.
func (s *appSlots) tryAcquire(app int64) (bool, int) {
	if s.max <= 0 {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[app]
	if n >= s.max {
		return false, n
	}
	s.n[app] = n + 1
	return true, n + 1
}

// release gives back a slot taken by tryAcquire.
func (s *appSlots) release(app int64) {
	if s.max <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.n[app] - 1; n > 0 {
		s.n[app] = n
	} else {
		delete(s.n, app)
	}
}
