package tasks

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A slow app gets max slots; a fast one is not held back; another app has
// slots of its own.
func TestAppSlots(t *testing.T) {
	t.Parallel()
	s := newAppSlots(2, 100*time.Millisecond, time.Second)
	at := func(ms int) time.Time { return s.base.Add(time.Duration(ms) * time.Millisecond) }

	a1, ok, _ := s.tryAcquire(7, at(0))
	require.True(t, ok)
	a2, ok, _ := s.tryAcquire(7, at(10))
	require.True(t, ok)
	// Two in flight for 45 ms on average: still fast, a third one goes.
	a3, ok, _ := s.tryAcquire(7, at(50))
	require.True(t, ok, "an app answering quickly is not limited")
	// At 200 ms they have been running 180 ms on average: slow, and at the limit.
	_, ok, busy := s.tryAcquire(7, at(200))
	require.False(t, ok)
	require.Equal(t, appBusy{inFlight: 3, meanAge: 180 * time.Millisecond, refused: 1}, busy)
	_, ok, _ = s.tryAcquire(8, at(200))
	require.True(t, ok, "another app has slots of its own")

	s.release(7, a1)
	s.release(7, a2)
	// One left, under the limit: the next goes whatever its age.
	a4, ok, _ := s.tryAcquire(7, at(900))
	require.True(t, ok)
	s.release(7, a3)
	s.release(7, a4)
	require.NotContains(t, s.apps, int64(7), "apps with nothing in flight are forgotten")
}

// Refusals are counted per window; the count reported is the larger of the
// current window's and the previous one's, and an idle stretch clears it.
func TestAppSlotsRefusalWindows(t *testing.T) {
	t.Parallel()
	s := newAppSlots(1, 0, time.Second)
	at := func(ms int) time.Time { return s.base.Add(time.Duration(ms) * time.Millisecond) }
	_, ok, _ := s.tryAcquire(1, at(0))
	require.True(t, ok)
	refuse := func(ms int) int {
		t.Helper()
		_, ok, busy := s.tryAcquire(1, at(ms))
		require.False(t, ok)
		return busy.refused
	}
	for i := 1; i <= 5; i++ {
		require.Equal(t, i, refuse(100*i))
	}
	require.Equal(t, 5, refuse(1200), "the previous window's 5 still count")
	require.Equal(t, 5, refuse(1300))
	require.Equal(t, 2, refuse(2100), "a window with 2 after one with 2 (from 1200 and 1300)")
	require.Equal(t, 1, refuse(5000), "two windows without refusals clear the count")
}

func TestAppSlotsUnlimited(t *testing.T) {
	t.Parallel()
	s := newAppSlots(0, time.Millisecond, time.Second)
	for i := range 1000 {
		_, ok, _ := s.tryAcquire(1, s.base.Add(time.Duration(i)*time.Second))
		require.True(t, ok)
	}
	require.Empty(t, s.apps)
}

// Concurrent deliveries of an app that is always slow never hold more than
// the limit, and every slot comes back.
func TestAppSlotsConcurrent(t *testing.T) {
	t.Parallel()
	// Every app counts as slow. (With a positive age, a goroutine whose
	// clock reading is older than the others' can see a negative mean age
	// and go briefly over the limit; that is harmless, and not what is
	// tested here.)
	s := newAppSlots(3, 0, time.Second)
	var mu sync.Mutex
	held, peak := 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 200 {
				start, ok, _ := s.tryAcquire(1, time.Now())
				if !ok {
					continue
				}
				mu.Lock()
				held++
				peak = max(peak, held)
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				s.release(1, start)
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, peak, 3)
	require.Empty(t, s.apps)
}

// A deferral waits AppBusyDelay to twice that while refusals are few, and
// longer in proportion to them, up to maxDeferral × AppBusyDelay (×2).
func TestDeferral(t *testing.T) {
	t.Parallel()
	d := NewDeliverer(DelivererConfig{AppConcurrency: 10, AppBusyDelay: time.Second})
	for _, tc := range []struct {
		refused int
		lo, hi  time.Duration
	}{
		{1, time.Second, 2 * time.Second},
		{10, time.Second, 2 * time.Second},
		{11, 2 * time.Second, 4 * time.Second},
		{95, 10 * time.Second, 20 * time.Second},
		{1_000_000, maxDeferral * time.Second, 2 * maxDeferral * time.Second},
	} {
		for range 50 {
			got := d.deferral(tc.refused)
			require.GreaterOrEqual(t, got, tc.lo, "%d refusals", tc.refused)
			require.LessOrEqual(t, got, tc.hi, "%d refusals", tc.refused)
		}
	}
}
