package tasks

import (
	"sync"
	"time"
)

// appSlots counts the deliveries in flight per app in this process and
// bounds those of slow apps, so a slow or dead endpoint holds at most max of
// the worker's slots while the other apps' deliveries keep flowing. An app
// is slow while its deliveries in flight have been running for slowAge or
// longer on average; a fast app, whose deliveries finish within
// milliseconds, is never held back, however many it has in flight.
type appSlots struct {
	max     int // 0: no limit
	slowAge time.Duration
	base    time.Time // start times are kept as offsets from base
	mu      sync.Mutex
	apps    map[int64]appLoad
}

// appLoad is one app's deliveries in flight: how many, and the sum of their
// start offsets, from which their mean age follows.
type appLoad struct {
	n        int
	startSum time.Duration
}

// newAppSlots returns the accounting for a limit of max per slow app; with
// slowAge ≤ 0 every app counts as slow.
func newAppSlots(max int, slowAge time.Duration) *appSlots {
	return &appSlots{max: max, slowAge: slowAge, base: time.Now(), apps: make(map[int64]appLoad)}
}

// tryAcquire takes a slot of app at now and returns its start offset for
// release, or reports false with the app's deliveries in flight and their
// mean age when the app is slow and already has max in flight.
func (s *appSlots) tryAcquire(app int64, now time.Time) (start time.Duration, ok bool, inFlight int, meanAge time.Duration) {
	start = now.Sub(s.base)
	if s.max <= 0 {
		return start, true, 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.apps[app]
	if l.n >= s.max {
		if age := start - l.startSum/time.Duration(l.n); s.slowAge <= 0 || age >= s.slowAge {
			return 0, false, l.n, age
		}
	}
	l.n++
	l.startSum += start
	s.apps[app] = l
	return start, true, l.n, 0
}

// release gives back a slot taken by tryAcquire at start.
func (s *appSlots) release(app int64, start time.Duration) {
	if s.max <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.apps[app]
	l.n--
	l.startSum -= start
	if l.n > 0 {
		s.apps[app] = l
	} else {
		delete(s.apps, app)
	}
}
