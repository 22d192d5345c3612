package producer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/producer"
)

func TestNewTask(t *testing.T) {
	t.Parallel()
	task, err := producer.NewTask(producer.ResourceChange{InstallationID: 5, Event: "error.created",
		Data: json.RawMessage(`{"error":{}}`)})
	require.NoError(t, err)
	require.Equal(t, "sentry_apps:send_resource_change_webhook", task.Type())
	require.Equal(t, `{"installation_id":5,"event":"error.created","data":{"error":{}}}`, string(task.Payload()))

	_, err = producer.NewTaskFromJSON([]byte(`{"installation_id":5,"event":"error.created","installation_id":6}`), 0)
	require.EqualError(t, err, `payload: duplicate key "installation_id"`)
	big := []byte(`{"installation_id":5,"event":"error.created","data":{"x":"` + strings.Repeat("a", 2000) + `"}}`)
	_, err = producer.NewTaskFromJSON(big, 1024)
	require.ErrorContains(t, err, "over the limit of 1024 (MAX_PAYLOAD_BYTES)")
}

// Enqueue puts a valid task on the worker's queue with the options every
// task carries, and refuses an invalid or oversized one before Redis.
func TestEnqueue(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	client := asynq.NewClientFromRedisClient(r.Client)
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	ctx := context.Background()

	info, err := producer.Enqueue(ctx, client, producer.ResourceChange{InstallationID: 7, Event: "issue.created",
		Data: json.RawMessage(`{"issue":{"id":"1"}}`)})
	require.NoError(t, err)
	got, err := insp.GetTaskInfo(producer.QueueAppPlatform, info.ID)
	require.NoError(t, err)
	require.Equal(t, producer.TypeResourceChange, got.Type)
	require.Equal(t, producer.TaskMaxRetry, got.MaxRetry)
	require.Equal(t, producer.TaskTimeout, got.Timeout, "no task runs under asynq's 30-minute default")
	require.Equal(t, asynq.TaskStatePending, got.State)

	_, err = producer.Enqueue(ctx, client, producer.ResourceChange{InstallationID: 7, Event: "issue.created",
		Data: json.RawMessage(`{"x":"` + strings.Repeat("a", producer.DefaultMaxPayloadBytes) + `"}`)})
	require.ErrorContains(t, err, "payload: ")
	require.ErrorContains(t, err, "over the limit of 1048576 (MAX_PAYLOAD_BYTES)")
	_, err = producer.Enqueue(ctx, client, producer.ResourceChange{InstallationID: 7, Event: "issue"})
	require.ErrorContains(t, err, "exactly one dot")

	queues, err := insp.Queues()
	require.NoError(t, err)
	require.Equal(t, []string{producer.QueueAppPlatform}, queues)
	qi, err := insp.GetQueueInfo(producer.QueueAppPlatform)
	require.NoError(t, err)
	require.Equal(t, 1, qi.Size, "the refused payloads never reached Redis")
}

// EnqueueBatch enqueues the valid payloads of a mixed batch and answers
// each item, in order.
func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	client := asynq.NewClientFromRedisClient(r.Client)
	insp := asynq.NewInspectorFromRedisClient(r.Client)

	var ps []producer.ResourceChange
	for i := range 300 {
		p := producer.ResourceChange{InstallationID: int64(i + 1), Event: "issue.created", Data: json.RawMessage(`{"issue":{}}`)}
		if i%50 == 7 {
			p.Event = "issue.exploded"
		}
		ps = append(ps, p)
	}
	results := producer.EnqueueBatch(context.Background(), client, ps, asynq.ProcessIn(time.Hour))
	require.Len(t, results, len(ps))
	ok := 0
	for i, res := range results {
		if i%50 == 7 {
			require.ErrorContains(t, res.Err, `unknown event "issue.exploded"`, "item %d", i)
			require.Nil(t, res.Info)
			continue
		}
		require.NoError(t, res.Err, "item %d", i)
		info, err := insp.GetTaskInfo(producer.QueueAppPlatform, res.Info.ID)
		require.NoError(t, err)
		p, err := producer.Decode(info.Payload, 0)
		require.NoError(t, err)
		require.Equal(t, int64(i+1), p.InstallationID, "result %d answers item %d", i, i)
		require.Equal(t, asynq.TaskStateScheduled, info.State, "the options apply")
		ok++
	}
	require.Equal(t, 294, ok)
	require.Empty(t, producer.EnqueueBatch(context.Background(), client, nil))
}
