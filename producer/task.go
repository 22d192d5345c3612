package producer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Task type and queue of a resource-change webhook: the names the worker
// reads.
const (
	// TypeResourceChange is the asynq task type.
	TypeResourceChange = "sentry_apps:send_resource_change_webhook"
	// QueueAppPlatform is the queue the worker reads it from.
	QueueAppPlatform = "app_platform"
)

// TaskMaxRetry is the asynq MaxRetry of resource-change tasks:
// WEBHOOK_MAX_RETRIES's default, so the queue UI's "Retry n/3" shows the
// limit the worker applies. The worker ends a delivery at the lower of
// this and WEBHOOK_MAX_RETRIES (asynq archives a task at its MaxRetry), so
// a deployment that changes WEBHOOK_MAX_RETRIES sets its producers'
// MaxRetry to match. (It was 100, an upper bound, and the UI showed
// "Retry 1/100".)
const TaskMaxRetry = 3

// TaskTimeout is the asynq timeout of every resource-change task: how long
// one attempt may run before asynq cancels it and counts a failure. An
// attempt is bounded by WEBHOOK_TIMEOUT (at most a minute) plus a few
// database and Redis calls; this bound is there so that no attempt can ever
// run for asynq's default of 30 minutes, whatever goes wrong.
const TaskTimeout = 2 * time.Minute

// TaskOptions returns the options every resource-change task carries
// (queue, MaxRetry, Timeout), followed by opts, which win.
func TaskOptions(opts ...asynq.Option) []asynq.Option {
	return append([]asynq.Option{asynq.Queue(QueueAppPlatform), asynq.MaxRetry(TaskMaxRetry), asynq.Timeout(TaskTimeout)}, opts...)
}

// NewTask validates p (Encode's rules at DefaultMaxPayloadBytes) and
// returns the task to enqueue, on the app_platform queue with TaskOptions.
// opts are added after them (asynq.TaskID, asynq.ProcessIn, …).
func NewTask(p ResourceChange, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := Encode(p, DefaultMaxPayloadBytes)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeResourceChange, b, TaskOptions(opts...)...), nil
}

// NewTaskFromJSON validates an already encoded payload (Decode's rules, at
// most maxBytes; DefaultMaxPayloadBytes when maxBytes <= 0) and returns its
// task without re-encoding it: the cheap path for producers that hold JSON
// already.
func NewTaskFromJSON(b []byte, maxBytes int, opts ...asynq.Option) (*asynq.Task, error) {
	if _, err := Decode(b, maxBytes); err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeResourceChange, b, TaskOptions(opts...)...), nil
}

// Enqueue validates p and enqueues it with client. A payload the worker
// would refuse is refused here, before Redis, with a "payload: " error.
func Enqueue(ctx context.Context, client *asynq.Client, p ResourceChange, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	task, err := NewTask(p, opts...)
	if err != nil {
		return nil, err
	}
	info, err := client.EnqueueContext(ctx, task)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return info, nil
}

// Result is the outcome of one payload of EnqueueBatch: its task's info, or
// why it was not enqueued.
type Result struct {
	Info *asynq.TaskInfo
	Err  error
}

// batchConcurrency is how many enqueues EnqueueBatch has in flight at once.
const batchConcurrency = 32

// EnqueueBatch validates and enqueues every payload of ps, several at a
// time, and returns one Result per payload in the same order: the valid
// ones are enqueued even when others are refused. opts apply to every task
// (an asynq.TaskID option would make all but the first a conflict). The
// client's Redis pool should have room for batchConcurrency (32)
// connections.
func EnqueueBatch(ctx context.Context, client *asynq.Client, ps []ResourceChange, opts ...asynq.Option) []Result {
	results := make([]Result, len(ps))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(batchConcurrency, len(ps)) {
		wg.Go(func() {
			for i := range next {
				results[i].Info, results[i].Err = Enqueue(ctx, client, ps[i], opts...)
			}
		})
	}
	for i := range ps {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}
