package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/tasks"
)

// TestRecoverPanicsUnit calls the middleware directly: a panic becomes a
// permanent error (asynq.SkipRetry) saying what panicked, logged once with
// the stack; errors and successes pass through unchanged.
func TestRecoverPanicsUnit(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	mw := recoverPanics(zap.New(core))
	task := asynq.NewTask("test:panic", []byte(`{}`))

	panicky := mw(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { panic("boom") }))
	err := panicky.ProcessTask(context.Background(), task)
	require.Error(t, err)
	require.Equal(t, "handler panicked: boom", err.Error())
	require.ErrorIs(t, err, asynq.SkipRetry)
	var perm *tasks.PermanentError
	require.ErrorAs(t, err, &perm)

	entries := logs.FilterMessage("task.panic").All()
	require.Len(t, entries, 1)
	fields := entries[0].ContextMap()
	require.Equal(t, "test:panic", fields["task_type"])
	require.Contains(t, fields["stack"], "recover_internal_test.go", "the stack points at the panicking handler")

	cause := errors.New("plain failure")
	failing := mw(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return cause }))
	require.Same(t, cause, failing.ProcessTask(context.Background(), task))
	ok := mw(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }))
	require.NoError(t, ok.ProcessTask(context.Background(), task))
	require.Len(t, logs.FilterMessage("task.panic").All(), 1)
}

// TestRecoverPanicsArchives runs the middleware on a real asynq server: a
// handler that panics with a runtime error is archived after one attempt
// with "handler panicked: ..." as its last error, instead of being retried
// up to its MaxRetry; a task of another type alongside still completes.
func TestRecoverPanicsArchives(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)

	mux := asynq.NewServeMux()
	mux.Use(recoverPanics(log))
	mux.HandleFunc("test:panic", func(context.Context, *asynq.Task) error {
		var m map[string]int
		m["x"] = 1 // assignment to entry in nil map
		return nil
	})
	mux.HandleFunc("test:ok", func(context.Context, *asynq.Task) error { return nil })
	srv := asynq.NewServerFromRedisClient(rdb.Client, asynq.Config{
		Concurrency: 2, Queues: map[string]int{"test": 1},
		TaskCheckInterval: 10 * time.Millisecond, DelayedTaskCheckInterval: 50 * time.Millisecond,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 10 * time.Millisecond },
		Logger:         log.Sugar(), LogLevel: asynq.WarnLevel,
	})
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)

	client := asynq.NewClientFromRedisClient(rdb.Client)
	inspector := asynq.NewInspectorFromRedisClient(rdb.Client)
	bad, err := client.Enqueue(asynq.NewTask("test:panic", nil), asynq.Queue("test"), asynq.MaxRetry(25), asynq.Retention(time.Hour))
	require.NoError(t, err)
	good, err := client.Enqueue(asynq.NewTask("test:ok", nil), asynq.Queue("test"), asynq.Retention(time.Hour))
	require.NoError(t, err)

	var info *asynq.TaskInfo
	require.Eventually(t, func() bool {
		info, err = inspector.GetTaskInfo("test", bad.ID)
		return err == nil && info.State == asynq.TaskStateArchived
	}, 15*time.Second, 5*time.Millisecond, "the panicking task is archived")
	require.Zero(t, info.Retried)
	require.Equal(t, "handler panicked: assignment to entry in nil map", info.LastErr)
	require.Eventually(t, func() bool {
		i, err := inspector.GetTaskInfo("test", good.ID)
		return err == nil && i.State == asynq.TaskStateCompleted
	}, 15*time.Second, 5*time.Millisecond, "the other task completes")
	require.Len(t, logs.FilterMessage("task.panic").All(), 1)
}
