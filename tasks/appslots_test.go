package tasks

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is an injected clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// waitWaiting polls until n deliveries of app wait, calling each (if any)
// on every look, and fails with msg after 5 s.
func waitWaiting(t *testing.T, s *appSlots, app int64, n int, each func(), msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if l, _ := s.snapshot(app); l.Waiting == n {
			return
		}
		if each != nil {
			each()
		}
		require.True(t, time.Now().Before(deadline), msg)
		time.Sleep(time.Millisecond)
	}
}

func newTestSlots(initial, maxLimit int) (*appSlots, *fakeClock) {
	return newTestSlotsAged(initial, maxLimit, 250*time.Millisecond)
}

// newTestSlotsAged is newTestSlots with its own StuckAge.
func newTestSlotsAged(initial, maxLimit int, stuckAge time.Duration) (*appSlots, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_000_000, 0)}
	return newAppSlots(appSlotsConfig{Initial: initial, Max: maxLimit, StuckAge: stuckAge,
		Pace: time.Second, MaxDefer: 60 * time.Second, Now: c.now}), c
}

// hold acquires n slots of app, each of which must be granted.
func hold(t *testing.T, ctx context.Context, s *appSlots, app int64, n int) []slot {
	t.Helper()
	var held []slot
	for range n {
		sl, ok, _ := s.acquire(ctx, app)
		require.True(t, ok)
		held = append(held, sl)
	}
	return held
}

// An app's limit applies from its first delivery: the first burst for an
// app whose deliveries hang takes the first limit's slots, and once they
// look stuck every further delivery is deferred at once; another app has
// slots of its own.
func TestAppSlotsLimitFromFirstDelivery(t *testing.T) {
	t.Parallel()
	s, clock := newTestSlots(3, 100)
	ctx := context.Background()
	for range 3 {
		_, ok, _ := s.acquire(ctx, 7)
		require.True(t, ok)
	}
	clock.add(300 * time.Millisecond) // past StuckAge: the app looks stuck
	_, ok, busy := s.acquire(ctx, 7)
	require.False(t, ok, "a fourth delivery of a stuck app is deferred without waiting")
	require.Equal(t, 3, busy.limit)
	require.Equal(t, 3, busy.inFlight)
	require.GreaterOrEqual(t, busy.delay, time.Second, "deferred by at least the pace (WEBHOOK_TIMEOUT)")
	_, ok, _ = s.acquire(ctx, 8)
	require.True(t, ok, "another app is not held back")
}

// Answers grow the limit by one each until the first failure; a failure
// halves it once per round of deliveries (one that started before the cut
// does not cut again); after a failure, growth is about one per round.
func TestAppSlotsAIMD(t *testing.T) {
	t.Parallel()
	s, clock := newTestSlots(4, 20)
	ctx := context.Background()
	limit := func() int { l, _ := s.snapshot(1); return l.Limit }
	held := hold(t, ctx, s, 1, 4)
	for _, sl := range held {
		s.release(sl, false)
	}
	require.Equal(t, 8, limit(), "slow start: +1 per answer")
	for range 30 {
		sl, _, _ := s.acquire(ctx, 1)
		s.release(sl, false)
	}
	require.Equal(t, 20, limit(), "capped at Max (the process concurrency)")

	held = hold(t, ctx, s, 1, 10)
	clock.add(time.Second)
	s.release(held[0], true)
	require.Equal(t, 10, limit(), "a timeout halves the limit")
	for _, sl := range held[1:] {
		s.release(sl, true)
	}
	require.Equal(t, 10, limit(), "deliveries started before the cut do not cut again")
	clock.add(time.Millisecond)
	sl, _, _ := s.acquire(ctx, 1)
	clock.add(time.Second)
	s.release(sl, true)
	require.Equal(t, 5, limit(), "a delivery started after the cut cuts again")
	for range 6 { // 5 + 1/5 + 1/5.2 + … passes 6 on the sixth answer
		sl, _, _ := s.acquire(ctx, 1)
		s.release(sl, false)
	}
	require.Equal(t, 6, limit(), "after a failure, about +1 per round of limit answers")

	for range 10 {
		clock.add(time.Millisecond)
		sl, _, _ := s.acquire(ctx, 1)
		clock.add(time.Second)
		s.release(sl, true)
	}
	require.Equal(t, 1, limit(), "never below 1")
}

// A delivery over the limit of an app that answers waits for a slot
// instead of being deferred: a fast busy app is never deferred.
func TestAppSlotsWaitForFastApp(t *testing.T) {
	t.Parallel()
	s := newAppSlots(appSlotsConfig{Initial: 1, Max: 10, StuckAge: 10 * time.Second, Pace: time.Second, MaxDefer: time.Minute})
	ctx := context.Background()
	first, ok, _ := s.acquire(ctx, 1)
	require.True(t, ok)
	got := make(chan bool)
	go func() {
		_, ok, _ := s.acquire(ctx, 1)
		got <- ok
	}()
	waitWaiting(t, s, 1, 1, nil, "the second delivery never waited")
	s.release(first, false)
	require.True(t, <-got, "the waiting delivery got the freed slot")
}

// At most max(limit, Max/2) deliveries of an app wait once its deliveries
// have run for StuckAge/4 without an answer; the next is deferred at once.
func TestAppSlotsBoundedWaiters(t *testing.T) {
	t.Parallel()
	s, clock := newTestSlotsAged(2, 4, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold(t, ctx, s, 1, 2)
	clock.add(3 * time.Second) // past StuckAge/4, short of looking stuck (StuckAge/2 without an answer)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { s.acquire(ctx, 1) })
	}
	waitWaiting(t, s, 1, 2, nil, "two deliveries should wait")
	_, ok, busy := s.acquire(ctx, 1)
	require.False(t, ok, "a third waiter is deferred at once")
	require.Equal(t, 2, busy.inFlight)
	cancel()
	wg.Wait()
}

// An app's first wave, before its first deliveries could have answered,
// waits rather than being deferred however many arrive at once (a worker
// starting on a backlog for one app fetches hundreds of its tasks before
// the first answer).
func TestAppSlotsFirstWaveWaits(t *testing.T) {
	t.Parallel()
	s, _ := newTestSlotsAged(2, 4, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := hold(t, ctx, s, 1, 2)
	got := make(chan bool, 5)
	for range 5 { // over max(limit, Max/2) = 2 waiters
		go func() {
			_, ok, _ := s.acquire(ctx, 1)
			got <- ok
		}()
	}
	waitWaiting(t, s, 1, 5, func() {
		select {
		case ok := <-got:
			require.True(t, ok, "a delivery of the first wave was deferred")
		default:
		}
	}, "the first wave did not wait")
	s.release(first[0], false) // the first answer: the limit grows, waiters get slots
	for range 2 {
		require.True(t, <-got, "a waiting delivery was deferred after the app answered")
	}
}

// Deferrals are paced: each waits pace/limit longer than the one before,
// from pace, up to MaxDefer; beyond it they spread over its last half.
func TestAppSlotsDeferralPacing(t *testing.T) {
	t.Parallel()
	s, clock := newTestSlots(2, 10)
	ctx := context.Background()
	for range 2 {
		s.acquire(ctx, 1)
	}
	clock.add(300 * time.Millisecond)
	var prev time.Duration
	for i := range 100 {
		_, ok, busy := s.acquire(ctx, 1)
		require.False(t, ok)
		want := time.Second + time.Duration(i)*500*time.Millisecond // pace + i × pace/limit
		if want < 60*time.Second {
			require.GreaterOrEqual(t, busy.delay, want, "deferral %d", i)
			require.LessOrEqual(t, busy.delay, want+500*time.Millisecond, "deferral %d", i)
			require.Greater(t, busy.delay, prev-500*time.Millisecond)
		} else {
			require.GreaterOrEqual(t, busy.delay, 30*time.Second, "deferral %d", i)
			require.LessOrEqual(t, busy.delay, 60*time.Second, "deferral %d", i)
		}
		prev = busy.delay
	}
}

// Limit 0 turns it off; an app idle long enough is forgotten.
func TestAppSlotsOffAndForgotten(t *testing.T) {
	t.Parallel()
	off := newAppSlots(appSlotsConfig{Initial: 0, Max: 10, StuckAge: time.Millisecond, Pace: time.Second})
	for range 100 {
		_, ok, _ := off.acquire(context.Background(), 1)
		require.True(t, ok)
	}
	s, clock := newTestSlots(2, 10)
	sl, _, _ := s.acquire(context.Background(), 1)
	s.release(sl, true)
	clock.add(stateTTL*60*time.Second + time.Second)
	for range 1024 {
		sl, _, _ := s.acquire(context.Background(), 2)
		s.release(sl, false)
	}
	_, known := s.snapshot(1)
	require.False(t, known, "an app idle for stateTTL × MaxDefer is forgotten")
}
