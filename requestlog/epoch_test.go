package requestlog

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
)

// TestWriterCounterEpoch checks the counter's epoch guard: an attempt that
// started before the time at EpochKey is logged but not counted; one that
// started at or after it, or with no epoch set, is counted.
func TestWriterCounterEpoch(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t).Client
	ctx := context.Background()
	w := NewWriter(rdb)
	t.Cleanup(w.Close)
	epoch := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	counter := func(started time.Time) *Counter {
		return &Counter{Key: "counter", Field: "timeout_count", TTL: time.Hour, FenceKey: "epoch", Started: started}
	}
	count := func() string { return rdb.HGet(ctx, "counter", "timeout_count").Val() }

	require.NoError(t, w.Write(ctx, 5, "issue.created", Entry{ResponseCode: 0}, counter(epoch.Add(-time.Hour))))
	require.Equal(t, "1", count(), "no epoch yet: counted")

	require.NoError(t, rdb.Set(ctx, "epoch", strconv.FormatInt(epoch.UnixMicro(), 10), 0).Err())
	require.NoError(t, w.Write(ctx, 5, "issue.created", Entry{ResponseCode: 0}, counter(epoch.Add(-time.Microsecond))))
	require.Equal(t, "1", count(), "started before the epoch: not counted")
	require.NoError(t, w.Write(ctx, 5, "issue.created", Entry{ResponseCode: 0}, counter(epoch)))
	require.NoError(t, w.Write(ctx, 5, "issue.created", Entry{ResponseCode: 0}, counter(epoch.Add(time.Second))))
	require.Equal(t, "3", count(), "started at or after the epoch: counted")

	n, err := rdb.LLen(ctx, RequestKey(5, "issue.created")).Result()
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "every attempt is logged, counted or not")
}
