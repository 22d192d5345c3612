package ops

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/breaker"
)

// TestDayKey holds the console's fast key builder to the breaker's own.
func TestDayKey(t *testing.T) {
	t.Parallel()
	for _, at := range []time.Time{time.Date(2026, 1, 2, 23, 59, 59, 0, time.UTC), time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)} {
		require.Equal(t, breaker.Key(12345, 678, at), dayKey(12345, 678, at.Format(time.DateOnly)))
	}
}
