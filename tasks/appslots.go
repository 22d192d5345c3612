package tasks

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// appSlots is the per-app concurrency limit of one process: an adaptive
// limit, in the manner of TCP's congestion window, that applies from an
// app's first delivery.
//
//   - Every app starts with initial slots (WEBHOOK_APP_CONCURRENCY).
//   - Each answer (any HTTP status but 5xx and 429) grows the limit: by one
//     slot per answer until the first failure (so it doubles every round
//     trip, and a fast busy app reaches the whole concurrency within a few
//     milliseconds), by 1/limit per answer after one (about one slot per
//     round trip).
//   - A timeout, connection error, 5xx or 429 halves it, at most once per
//     round of deliveries (only a delivery that started after the last cut
//     cuts again), never below 1.
//
// A delivery over the limit waits in the process for a slot, up to pace
// (WEBHOOK_TIMEOUT, by when every delivery in flight has ended), while
// the app answers: a busy app whose receiver is fast is never deferred
// while its limit grows. It is deferred — put back in the queue for later
// — at once when the app looks stuck (its deliveries in flight have been
// running for stuckAge or longer on average and none answered for
// stuckAge; half that for an app that never answered), or when
// max(limit, Max/2) deliveries of the app already wait — unless the app
// answers quickly right now (an answer within stuckAge, deliveries in
// flight younger than stuckAge/2 on average) or its deliveries in flight
// are younger than stuckAge/4 on average (its first wave, which cannot
// have been answered yet). So a burst for
// a dead app holds at most initial + Max/2 of the worker's slots for
// stuckAge from its first delivery, and then limit, instead of all of
// them; and a fast app is deferred only if more than that many of its
// deliveries arrive before its first answer.
//
// Deferrals are paced: an app's k-th deferral in a row waits about k ×
// pace/limit (pace is WEBHOOK_TIMEOUT, the time a stuck app needs to free
// a slot), at least pace and at most maxDefer, so a backlog comes back
// about as fast as the app can take it instead of cycling through the
// queue.
type appSlots struct {
	initial  float64 // 0: no limit
	max      float64
	stuckAge time.Duration
	pace     time.Duration
	maxDefer time.Duration
	now      func() time.Time
	base     time.Time // times are kept as offsets from base
	mu       sync.Mutex
	apps     map[int64]*appState
	ops      int // acquisitions since the last sweep
}

// appState is one app's limit and load in this process.
type appState struct {
	limit    float64
	ssthresh float64 // the limit grows by one per answer below it
	inFlight int
	startSum time.Duration // sum of the in-flight deliveries' start offsets
	waiting  int
	// waiters are the waiting deliveries' wake-up channels (capacity 1),
	// first come first served: a freed slot wakes one of them, not all.
	waiters  []chan struct{}
	lastCut  time.Duration // offset of the last halving
	answered time.Duration // offset of the last answer (far past: none)
	nextSlot time.Duration // offset the next deferral is paced after
	lastUsed time.Duration
}

// appBusy describes a deferral: the app's limit and deliveries in flight,
// their mean age, and how long the delivery waits in the queue.
type appBusy struct {
	limit    int
	inFlight int
	meanAge  time.Duration
	delay    time.Duration
	// stuck says the app looked stuck (not merely crowded): what moves
	// its backlog aside in bulk.
	stuck bool
}

// appSlotsConfig sets up appSlots.
type appSlotsConfig struct {
	// Initial is every app's first limit; 0 turns the limit off.
	Initial int
	// Max is the most an app's limit grows to: the process's concurrency.
	Max int
	// StuckAge is how long an app's deliveries in flight must have been
	// running on average, with no answer meanwhile, for it to look stuck.
	StuckAge time.Duration
	// Pace is the first deferral's delay, the time a stuck app needs to
	// free limit slots, and the longest a delivery waits for a slot.
	Pace time.Duration
	// MaxDefer bounds a deferral.
	MaxDefer time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// newAppSlots returns the limiter.
func newAppSlots(c appSlotsConfig) *appSlots {
	if c.Now == nil {
		c.Now = time.Now
	}
	return &appSlots{
		initial: float64(c.Initial), max: float64(max(c.Max, c.Initial, 1)), stuckAge: c.StuckAge,
		pace: max(c.Pace, time.Millisecond), maxDefer: max(c.MaxDefer, c.Pace), now: c.Now, base: c.Now(),
		apps: make(map[int64]*appState),
	}
}

// slot is a taken slot, to give back with release.
type slot struct {
	app   int64
	start time.Duration
	taken bool
}

// stateTTL is how long an app's state outlives its last delivery, in units
// of maxDefer: long enough to remember a dead app between its deferrals.
const stateTTL = 4

// acquire takes a slot of app, waiting for one while the app looks alive
// (see appSlots), or reports the deferral when it cannot. ctx ends a wait.
func (s *appSlots) acquire(ctx context.Context, app int64) (slot, bool, appBusy) {
	if s.initial <= 0 {
		return slot{}, true, appBusy{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.offset()
	s.sweep(now)
	st := s.apps[app]
	if st == nil {
		st = &appState{limit: s.initial, ssthresh: s.max, lastCut: -1 << 62, answered: -1 << 62}
		s.apps[app] = st
	}
	waitUntil := now + s.pace
	for {
		st.lastUsed = now
		if st.inFlight < int(st.limit) {
			st.inFlight++
			st.startSum += now
			return slot{app: app, start: now, taken: true}, true, appBusy{}
		}
		age := now - st.startSum/time.Duration(max(st.inFlight, 1))
		// Stuck: no answer for stuckAge and deliveries that old; an app
		// that never answered (a burst for a dead app) after half that.
		stuckAfter := s.stuckAge
		if st.answered < 0 {
			stuckAfter /= 2
		}
		stuck := age >= stuckAfter && now-st.answered >= s.stuckAge
		// An app that answers quickly right now is limited by its own
		// growing limit only: its waiters get slots within milliseconds.
		fast := now-st.answered < s.stuckAge && age < s.stuckAge/2
		// An app whose deliveries have only just started cannot have
		// answered yet: its first wave waits instead of being deferred
		// (a worker starting on a backlog for one app fetches hundreds of
		// its tasks before the first answer), for at most stuckAge/4.
		young := age < s.stuckAge/4
		crowded := st.waiting >= max(int(st.limit), int(s.max)/2) && !fast && !young
		if stuck || crowded || now >= waitUntil || ctx.Err() != nil {
			return slot{}, false, appBusy{limit: int(st.limit), inFlight: st.inFlight, meanAge: age, delay: s.deferral(st, now), stuck: stuck}
		}
		// Wait for a release (or a grown limit), looking again every
		// stuckAge/4 whether the app is stuck, at most until waitUntil.
		wake := make(chan struct{}, 1)
		st.waiters = append(st.waiters, wake)
		st.waiting++
		timer := time.NewTimer(max(time.Millisecond, min(waitUntil-now, s.stuckAge/4)))
		s.mu.Unlock()
		woken := false
		select {
		case <-wake:
			woken = true
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		s.mu.Lock()
		st.waiting--
		if i := slices.Index(st.waiters, wake); i >= 0 {
			st.waiters = slices.Delete(st.waiters, i, i+1)
		} else if !woken && len(wake) > 0 {
			woken = true // woken as the timer fired: the slot is ours to try
		}
		if !woken {
			// This delivery may leave a slot another waiter could take.
			st.wakeWaiters()
		}
		now = s.offset()
	}
}

// deferral reserves the app's next paced slot after now and returns how
// long the deferred delivery waits: at least pace, then pace/limit more per
// deferral already paced ahead of it, up to maxDefer; beyond that, anywhere
// in the last half of maxDefer, so a large backlog spreads out.
func (s *appSlots) deferral(st *appState, now time.Duration) time.Duration {
	step := time.Duration(float64(s.pace) / max(st.limit, 1))
	st.nextSlot = max(st.nextSlot+step, now+s.pace)
	if d := st.nextSlot - now; d < s.maxDefer {
		return d + time.Duration(rand.Int64N(int64(step)+1))
	}
	st.nextSlot = now + s.maxDefer
	return s.maxDefer/2 + time.Duration(rand.Int64N(int64(s.maxDefer/2)+1))
}

// bulkPlan returns the pacing of a bulk move of app's backlog: the first
// moved task's delay, the step between two, and the longest delay, as
// deferral would give them one by one (step 0: the app is unknown or the
// limit is off).
func (s *appSlots) bulkPlan(app int64) (first, step, longest time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.apps[app]
	if st == nil || s.initial <= 0 {
		return 0, 0, 0
	}
	now := s.offset()
	step = max(time.Duration(float64(s.pace)/max(st.limit, 1)), time.Millisecond)
	first = max(st.nextSlot+step, now+s.pace) - now
	return first, step, s.maxDefer
}

// bulkReserved records that n of app's deliveries were paced by a bulk
// move (see bulkPlan), so the next single deferrals come after them.
func (s *appSlots) bulkReserved(app int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.apps[app]
	if st == nil {
		return
	}
	now := s.offset()
	step := time.Duration(float64(s.pace) / max(st.limit, 1))
	st.nextSlot = min(max(st.nextSlot, now+s.pace)+time.Duration(n)*step, now+s.maxDefer)
}

// release gives back sl; failed says whether the attempt timed out, could
// not connect, or was answered 5xx or 429 (see appSlots for what that does
// to the limit).
func (s *appSlots) release(sl slot, failed bool) {
	if !sl.taken {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.apps[sl.app]
	if st == nil {
		return
	}
	st.inFlight--
	st.startSum -= sl.start
	if !failed {
		st.answered = s.offset()
	}
	switch {
	case failed && sl.start > st.lastCut:
		st.ssthresh = max(1, st.limit/2)
		st.limit = st.ssthresh
		st.lastCut = s.offset()
	case failed:
	case st.limit < st.ssthresh:
		st.limit = min(st.limit+1, s.max)
	default:
		st.limit = min(st.limit+1/st.limit, s.max)
	}
	st.wakeWaiters()
}

// wakeWaiters wakes as many waiting deliveries, first come first served,
// as there are free slots. Called with the lock held.
func (st *appState) wakeWaiters() {
	for free := int(st.limit) - st.inFlight; free > 0 && len(st.waiters) > 0; free-- {
		st.waiters[0] <- struct{}{}
		st.waiters = st.waiters[1:]
	}
}

// sweep forgets, every so often, the apps that have had nothing in flight
// or waiting for stateTTL × maxDefer: memory stays bounded by the apps
// seen recently.
func (s *appSlots) sweep(now time.Duration) {
	if s.ops++; s.ops < 1024 {
		return
	}
	s.ops = 0
	for app, st := range s.apps {
		if st.inFlight == 0 && st.waiting == 0 && now-st.lastUsed > stateTTL*s.maxDefer {
			delete(s.apps, app)
		}
	}
}

// offset is now as an offset from base.
func (s *appSlots) offset() time.Duration { return s.now().Sub(s.base) }

// AppLimit is one app's state in a Deliverer's per-app limit.
type AppLimit struct {
	AppID    int64
	Limit    int
	InFlight int
	Waiting  int
}

// snapshot returns app's state (ok false when the limiter does not know
// it).
func (s *appSlots) snapshot(app int64) (AppLimit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.apps[app]
	if st == nil {
		return AppLimit{AppID: app}, false
	}
	return AppLimit{AppID: app, Limit: int(st.limit), InFlight: st.inFlight, Waiting: st.waiting}, true
}
