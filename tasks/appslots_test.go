package tasks

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppSlots(t *testing.T) {
	t.Parallel()
	s := newAppSlots(2)
	for want := 1; want <= 2; want++ {
		ok, n := s.tryAcquire(7)
		require.True(t, ok)
		require.Equal(t, want, n)
	}
	ok, n := s.tryAcquire(7)
	require.False(t, ok, "a third delivery to the same app")
	require.Equal(t, 2, n)
	ok, _ = s.tryAcquire(8)
	require.True(t, ok, "another app has slots of its own")

	s.release(7)
	ok, _ = s.tryAcquire(7)
	require.True(t, ok, "a released slot is free again")
	s.release(7)
	s.release(7)
	s.release(8)
	require.Empty(t, s.n, "apps with nothing in flight are forgotten")
}

func TestAppSlotsUnlimited(t *testing.T) {
	t.Parallel()
	s := newAppSlots(0)
	for range 1000 {
		ok, _ := s.tryAcquire(1)
		require.True(t, ok)
	}
	s.release(1)
	require.Empty(t, s.n)
}

// Concurrent deliveries never hold more than the limit.
func TestAppSlotsConcurrent(t *testing.T) {
	t.Parallel()
	s := newAppSlots(3)
	var mu sync.Mutex
	held, peak := 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 200 {
				if ok, _ := s.tryAcquire(1); ok {
					mu.Lock()
					held++
					peak = max(peak, held)
					mu.Unlock()
					mu.Lock()
					held--
					mu.Unlock()
					s.release(1)
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, peak, 3)
	require.Empty(t, s.n)
}
