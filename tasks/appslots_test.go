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
	s := newAppSlots(2, 100*time.Millisecond)
	t0 := s.base
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	a1, ok, n, _ := s.tryAcquire(7, at(0))
	require.True(t, ok)
	require.Equal(t, 1, n)
	a2, ok, _, _ := s.tryAcquire(7, at(10))
	require.True(t, ok)
	// Two in flight for 45 ms on average: still fast, a third one goes.
	a3, ok, n, _ := s.tryAcquire(7, at(50))
	require.True(t, ok, "an app answering quickly is not limited")
	require.Equal(t, 3, n)
	// At 200 ms they have been running 180 ms on average: slow, and at the limit.
	_, ok, n, age := s.tryAcquire(7, at(200))
	require.False(t, ok)
	require.Equal(t, 3, n)
	require.Equal(t, 180*time.Millisecond, age)
	_, ok, _, _ = s.tryAcquire(8, at(200))
	require.True(t, ok, "another app has slots of its own")

	s.release(7, a1)
	s.release(7, a2)
	// One left, under the limit: the next goes whatever its age.
	a4, ok, _, _ := s.tryAcquire(7, at(900))
	require.True(t, ok)
	s.release(7, a3)
	s.release(7, a4)
	require.NotContains(t, s.apps, int64(7), "apps with nothing in flight are forgotten")
}

func TestAppSlotsUnlimited(t *testing.T) {
	t.Parallel()
	s := newAppSlots(0, time.Millisecond)
	for i := range 1000 {
		_, ok, _, _ := s.tryAcquire(1, s.base.Add(time.Duration(i)*time.Second))
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
	s := newAppSlots(3, 0)
	var mu sync.Mutex
	held, peak := 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 200 {
				start, ok, _, _ := s.tryAcquire(1, time.Now())
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
