package worker_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
	"github.com/hookworker/hookworker/worker"
)

// gate is a channel closed once, by the test or at cleanup, whichever
// comes first, so a receiver blocked on it never outlives the test.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{ch: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// TestShutdownFinishesInFlight has N deliveries in flight against a receiver
// that answers 300 ms after Shutdown was called, well inside SHUTDOWN_TIMEOUT
// (2 s): Shutdown waits for them, and when it returns every task is
// completed and recorded; none went back to the queue.
func TestShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	const n = 8
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = n
		c.ShutdownTimeout = 2 * time.Second
		c.WebhookTimeout = 10 * time.Second
	}})
	shutdownCalled := newGate(t)
	var answered atomic.Int32
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-shutdownCalled.ch:
		case <-r.Context().Done():
			return
		}
		time.Sleep(300 * time.Millisecond) // the receiver's latency, part of the scenario
		w.WriteHeader(http.StatusOK)
		answered.Add(1)
	})
	seed := h.seed(models.SeedOptions{WebhookURL: rc.URL})
	infos := make([]*asynq.TaskInfo, n)
	for i := range infos {
		infos[i] = h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"})
	}
	h.waitFor(func() bool { return rc.count() == n }, "all deliveries in flight")
	require.Zero(t, answered.Load())

	shutdownCalled.open()
	h.w.Shutdown()

	require.Equal(t, int32(n), answered.Load(), "every receiver answered before Shutdown returned")
	for _, info := range infos {
		got, err := h.inspector.GetTaskInfo(tasks.QueueAppPlatform, info.ID)
		require.NoError(t, err)
		require.Equal(t, asynq.TaskStateCompleted, got.State, "task %s", info.ID)
		require.Zero(t, got.Retried)
	}
	require.Len(t, h.lrange(requestlog.RequestKey(seed.SentryAppID, "issue.created")), n)
	require.Equal(t, n, rc.count(), "no task was delivered twice")

	// The logs say what happened: n in flight when the shutdown began,
	// then done, nothing returned to the queue, once the last ended.
	draining := h.logs.FilterMessage("worker.draining").All()
	require.Len(t, draining, 1)
	require.EqualValues(t, n, draining[0].ContextMap()["in_flight"])
	drained := h.logs.FilterMessage("worker.drained").All()
	require.Len(t, drained, 1)
	require.EqualValues(t, 0, drained[0].ContextMap()["in_flight"])
	require.EqualValues(t, 0, drained[0].ContextMap()["returned_to_queue"])
	require.GreaterOrEqual(t, drained[0].ContextMap()["took"], 300*time.Millisecond, "logged done before the deliveries ended")
	require.Empty(t, h.logs.FilterMessage("All workers have finished").All(), "asynq's per-server line speaks for one server only")
}

// TestShutdownRequeuesSlow has N deliveries in flight against a receiver
// that never answers in time: after SHUTDOWN_TIMEOUT the handlers' context
// is cancelled, the requests are abandoned, the tasks go back to pending
// without counting a retry or a failure and without a request-log entry,
// and a new worker then delivers each of them, with the same delivery id.
func TestShutdownRequeuesSlow(t *testing.T) {
	t.Parallel()
	const n = 5
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = n
		c.ShutdownTimeout = time.Second
		c.WebhookTimeout = 30 * time.Second
	}})
	var hang atomic.Bool
	hang.Store(true)
	var abandoned atomic.Int32
	release := newGate(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-r.Context().Done():
				abandoned.Add(1) // the worker closed the connection
			case <-release.ch:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	seed := h.seed(models.SeedOptions{WebhookURL: rc.URL})
	infos := make([]*asynq.TaskInfo, n)
	for i := range infos {
		infos[i] = h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"})
	}
	h.waitFor(func() bool { return rc.count() == n }, "all deliveries in flight")

	h.w.Shutdown()
	h.waitFor(func() bool { return abandoned.Load() == n }, "the cancelled handlers close their connections")
	for _, info := range infos {
		got, err := h.inspector.GetTaskInfo(tasks.QueueAppPlatform, info.ID)
		require.NoError(t, err)
		require.Equal(t, asynq.TaskStatePending, got.State, "task %s", info.ID)
		require.Zero(t, got.Retried, "a shutdown is not a failed attempt")
		require.Empty(t, got.LastErr)
	}
	q, err := h.inspector.GetQueueInfo(tasks.QueueAppPlatform)
	require.NoError(t, err)
	require.Zero(t, q.Failed)
	require.Zero(t, q.Archived)
	require.Empty(t, sentryAppKeys(t, h), "an abandoned attempt is not recorded")

	hang.Store(false)
	w2, err := worker.New(worker.Deps{Config: h.cfg, Redis: h.rdb, DB: h.pg.DB,
		Log: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))})
	require.NoError(t, err)
	require.NoError(t, w2.Start())
	t.Cleanup(w2.Shutdown)
	for _, info := range infos {
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		require.Zero(t, got.Retried)
	}
	reqs := rc.requests()
	require.Len(t, reqs, 2*n)
	seen := map[string]int{}
	for _, r := range reqs {
		seen[r.Header.Get("Hookworker-Delivery-ID")]++
	}
	for _, info := range infos {
		require.Equal(t, 2, seen[info.ID], "task %s: one abandoned and one completed attempt, same delivery id", info.ID)
	}
}

// TestSenderReturnsOnCancel checks that webhook.Sender.Send gives up as soon
// as its context is cancelled (a shutdown), long before its own timeout,
// and reports the context's error rather than a transport failure, so the
// deliverer returns the task to the queue without recording an attempt.
func TestSenderReturnsOnCancel(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := newGate(t)
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release.ch:
		}
	})
	s := webhook.NewSender(webhook.Options{Timeout: time.Minute, Guard: netguard.New(true, nil)})
	t.Cleanup(s.Close)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		resp *webhook.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.Send(ctx, webhook.Request{URL: rc.URL, Resource: "issue", Body: []byte(`{}`), Secret: "k"})
		done <- result{resp, err}
	}()
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("the request never arrived")
	}
	cancel()
	select {
	case r := <-done:
		require.True(t, errors.Is(r.err, context.Canceled), "got %v", r.err)
		var te *webhook.TransportError
		require.False(t, errors.As(r.err, &te), "a cancellation is not a transport error")
		require.Zero(t, r.resp.StatusCode)
	case <-time.After(15 * time.Second):
		t.Fatal("Send did not return after its context was cancelled")
	}
}
