package tasks

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
)

// The bulk move takes exactly one installation's tasks among the oldest
// pending ones to Scheduled, oldest first and paced, as the original tasks
// (same ids), and leaves every other task pending in its order: one whose
// data mentions the installation, another installation's, another type.
func TestBulkDeferScriptMovesOneInstallation(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t).Client
	client := asynq.NewClientFromRedisClient(rdb)
	ctx := context.Background()
	enqueue := func(inst int64, data string) string {
		task, err := NewResourceChangeTask(ResourceChange{InstallationID: inst, Event: "issue.created", Data: json.RawMessage(data)})
		require.NoError(t, err)
		info, err := client.EnqueueContext(ctx, task)
		require.NoError(t, err)
		return info.ID
	}
	var moved, kept []string // in enqueue (= dequeue) order
	moved = append(moved, enqueue(7, `{"a":1}`))
	kept = append(kept, enqueue(8, `{"a":1}`))
	moved = append(moved, enqueue(7, `{"a":2}`))
	kept = append(kept, enqueue(8, `{"x":{"installation_id":7,"y":1}}`))
	other, err := client.EnqueueContext(ctx, asynq.NewTask("other", []byte(`{"installation_id":7,"event":"issue.created"}`), asynq.Queue(QueueAppPlatform)))
	require.NoError(t, err)
	kept = append(kept, other.ID)
	moved = append(moved, enqueue(7, `{"a":3}`))
	kept = append(kept, enqueue(70, `{"a":1}`))

	q := "asynq:{" + QueueAppPlatform + "}:"
	now := float64(time.Now().Unix())
	n, err := bulkDeferScript.Run(ctx, rdb, []string{q + "pending", q + "scheduled"},
		q+"t:", bulkScan, TypeResourceChange, `{"installation_id":7,`, now, 1.0, 0.5, 60.0).Int64Slice()
	require.NoError(t, err)
	require.Equal(t, []int64{int64(len(moved)), int64(len(moved) + len(kept))}, n, "moved, read")

	pending, err := rdb.LRange(ctx, q+"pending", 0, -1).Result()
	require.NoError(t, err)
	slices.Reverse(pending) // the list's tail is dequeued first
	require.Equal(t, kept, pending, "the other tasks stay pending in their order")

	sched, err := rdb.ZRangeWithScores(ctx, q+"scheduled", 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, sched, len(moved))
	for i, z := range sched {
		require.Equal(t, moved[i], z.Member, "moved tasks are paced oldest first")
		require.InDelta(t, now+1+0.5*float64(i), z.Score, 1e-6)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, id := range moved {
		info, err := insp.GetTaskInfo(QueueAppPlatform, id)
		require.NoError(t, err)
		require.Equal(t, asynq.TaskStateScheduled, info.State)
		require.Zero(t, info.Retried)
		require.Empty(t, info.LastErr)
	}

	// Only the oldest count tasks are read.
	for range 3 {
		moved = append(moved, enqueue(7, `{}`))
	}
	n, err = bulkDeferScript.Run(ctx, rdb, []string{q + "pending", q + "scheduled"},
		q+"t:", 1, TypeResourceChange, `{"installation_id":7,`, now, 1.0, 0.5, 60.0).Int64Slice()
	require.NoError(t, err)
	require.Equal(t, []int64{0, 1}, n, "the oldest pending task is not the installation's")
	require.NoError(t, rdb.Del(ctx, q+"pending").Err())
	n, err = bulkDeferScript.Run(ctx, rdb, []string{q + "pending", q + "scheduled"},
		q+"t:", bulkScan, TypeResourceChange, `{"installation_id":7,`, now, 1.0, 0.5, 60.0).Int64Slice()
	require.NoError(t, err)
	require.Equal(t, []int64{0, 0}, n, "an empty queue")
}

// One bulk move per app at a time; the next soon after a move that found
// the app's tasks dense, a second later after one that found them sparse.
func TestBulkDeferrerPacesMoves(t *testing.T) {
	t.Parallel()
	b := &bulkDeferrer{running: map[int64]bool{}, next: map[int64]time.Time{}}
	now := time.Now()
	require.True(t, b.start(1, now))
	require.False(t, b.start(1, now), "two moves of one app at once")
	require.True(t, b.start(2, now), "another app waits for the first")
	b.done(1, 900, 1000)
	require.True(t, b.start(1, time.Now().Add(bulkGap)), "a dense move is not followed soon")
	b.done(1, 10, 1000)
	require.False(t, b.start(1, time.Now().Add(bulkGap)), "a sparse move is followed soon")
	require.True(t, b.start(1, time.Now().Add(bulkSparseGap)))
}
