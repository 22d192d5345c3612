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
//
// It also counts each app's refusals per window, so the caller can defer a
// large backlog for longer instead of bouncing it through the queue every
// second.
type appSlots struct {
	max     int // 0: no limit
	slowAge time.Duration
	window  time.Duration
	base    time.Time // start times are kept as offsets from base
	mu      sync.Mutex
	apps    map[int64]appLoad
}

// appLoad is one app's deliveries in flight — how many, and the sum of
// their start offsets, from which their mean age follows — and its recent
// refusals: in the window that began at winStart, and in the one before.
type appLoad struct {
	n        int
	startSum time.Duration
	winStart time.Duration
	refused  int
	prev     int
}

// appBusy describes a refusal: the app's deliveries in flight, their mean
// age, and how many of its deliveries were refused in the last window (at
// least 1: this one).
type appBusy struct {
	inFlight int
	meanAge  time.Duration
	refused  int
}

// newAppSlots returns the accounting for a limit per slow app (slowAge ≤ 0:
// every app counts as slow), counting refusals per window.
func newAppSlots(limit int, slowAge, window time.Duration) *appSlots {
	return &appSlots{max: limit, slowAge: slowAge, window: max(window, time.Millisecond), base: time.Now(), apps: make(map[int64]appLoad)}
}

// tryAcquire takes a slot of app at now and returns its start offset for
// release, or reports false and why when the app is slow and already has
// max in flight.
func (s *appSlots) tryAcquire(app int64, now time.Time) (start time.Duration, ok bool, busy appBusy) {
	start = now.Sub(s.base)
	if s.max <= 0 {
		return start, true, appBusy{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.apps[app]
	if l.n >= s.max {
		if age := start - l.startSum/time.Duration(l.n); s.slowAge <= 0 || age >= s.slowAge {
			l.refuse(start, s.window)
			s.apps[app] = l
			return 0, false, appBusy{inFlight: l.n, meanAge: age, refused: max(l.refused, l.prev)}
		}
	}
	l.n++
	l.startSum += start
	s.apps[app] = l
	return start, true, appBusy{}
}

// refuse counts one refusal at offset now in windows of length window.
func (l *appLoad) refuse(now, window time.Duration) {
	switch elapsed := now - l.winStart; {
	case elapsed >= 2*window:
		l.winStart, l.refused, l.prev = now, 0, 0
	case elapsed >= window:
		l.winStart, l.refused, l.prev = l.winStart+window, 0, l.refused
	}
	l.refused++
}

// release gives back a slot taken by tryAcquire at start. An app with
// nothing in flight is forgotten, refusals included: it is not slow any
// more.
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
