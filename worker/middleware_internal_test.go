package worker

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
)

// TestBoundTimeSetsADeadline: a handler run gets a deadline of at most the
// limit even when the task's context has none.
func TestBoundTimeSetsADeadline(t *testing.T) {
	t.Parallel()
	var got time.Time
	var ok bool
	h := boundTime(time.Minute)(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		got, ok = ctx.Deadline()
		return nil
	}))
	start := time.Now()
	require.NoError(t, h.ProcessTask(context.Background(), asynq.NewTask("x", nil)))
	require.True(t, ok, "no deadline")
	require.WithinDuration(t, start.Add(time.Minute), got, 5*time.Second)

	// An earlier deadline of the task's own is kept.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, h.ProcessTask(ctx, asynq.NewTask("x", nil)))
	require.WithinDuration(t, start.Add(time.Second), got, 500*time.Millisecond)
}

// TestQuoteCapped keeps a quoted outside value to 40 bytes.
func TestQuoteCapped(t *testing.T) {
	t.Parallel()
	require.Equal(t, `"abc"`, quoteCapped("abc"))
	long := quoteCapped(string(make([]byte, 10000)))
	require.Less(t, len(long), 200)
}
