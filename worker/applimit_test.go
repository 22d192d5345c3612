package worker_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// holdingReceiver keeps every request open until release is closed, and
// counts how many it holds at once.
type holdingReceiver struct {
	*receiver
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	open    int
	maxOpen int
}

func newHoldingReceiver(t *testing.T) *holdingReceiver {
	t.Helper()
	hr := &holdingReceiver{release: make(chan struct{})}
	hr.receiver = newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		hr.mu.Lock()
		hr.open++
		hr.maxOpen = max(hr.maxOpen, hr.open)
		hr.mu.Unlock()
		defer func() {
			hr.mu.Lock()
			hr.open--
			hr.mu.Unlock()
		}()
		select {
		case <-hr.release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	})
	t.Cleanup(hr.releaseAll) // before the server closes
	return hr
}

// releaseAll answers 200 to every request held and to every later one.
func (hr *holdingReceiver) releaseAll() { hr.once.Do(func() { close(hr.release) }) }

func (hr *holdingReceiver) counts() (open, maxOpen int) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.open, hr.maxOpen
}

// deferredOf is hookworker_webhook_deferred_total for one integration label.
func deferredOf(m *metrics.Metrics, integration string) float64 {
	return testutil.ToFloat64(m.Deferred.WithLabelValues(integration))
}

// A delivery deferred because its app is at its limit is not a failure:
// it waits in Scheduled, never in Retry or Archived, as a copy that keeps
// its delivery id and its retry budget (the limit the worker applies,
// shown to the UI), and it is counted with its app's label. Another app's
// deliveries go through meanwhile, and in the end every delivery arrives
// once, under its original delivery id.
func TestDeferralIsNotAFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 8
		c.WorkerFetchers = 1
		c.WebhookAppConcurrency = 2
		// Held requests must not time out (a timeout is a real failure,
		// retried); the app looks stuck after 2.5 s without an answer.
		c.WebhookTimeout = 10 * time.Second
	}})
	slow := newHoldingReceiver(t)
	fast := statusReceiver(t, http.StatusOK)
	a := h.seed(models.SeedOptions{WebhookURL: slow.URL, Status: models.AppPublished})
	b := h.seed(models.SeedOptions{WebhookURL: fast.URL, Status: models.AppPublished})

	// 2 in flight (the limit), 4 waiting for a slot (half the slots), 2
	// deferred at once; the waiting ones are deferred when the app looks
	// stuck.
	const n = 8
	var ids []string
	for range n {
		ids = append(ids, h.enqueue(cacheIssue(a.InstallationID)).ID)
	}
	h.waitFor(func() bool { return deferredOf(h.w.Metrics, a.SentryAppSlug) >= 2 }, "deliveries over the limit and the waiters' bound were not deferred")
	open, _ := slow.counts()
	require.Equal(t, 2, open, "the app's first limit applies from its first delivery")

	// The other app is not held up: 2 slots are free.
	for range 3 {
		h.enqueue(cacheIssue(b.InstallationID))
	}
	h.waitFor(func() bool { return fast.count() == 3 }, "the healthy app's deliveries waited behind the slow app")

	h.waitFor(func() bool { return deferredOf(h.w.Metrics, a.SentryAppSlug) == n-2 }, "the waiting deliveries were not deferred once the app looked stuck")
	require.Zero(t, deferredOf(h.w.Metrics, b.SentryAppSlug), "the healthy app was deferred")
	_, maxOpen := slow.counts()
	require.Equal(t, 2, maxOpen, "the slow app got more requests than its limit")

	scheduled, err := h.inspector.ListScheduledTasks(tasks.QueueAppPlatform)
	require.NoError(t, err)
	require.Len(t, scheduled, n-2)
	inFlight := map[string]bool{}
	for _, r := range slow.requests() {
		inFlight[r.Header.Get("Hookworker-Delivery-ID")] = true
	}
	deferred := map[string]bool{}
	for _, info := range scheduled {
		id := info.Headers[tasks.HeaderDeliveryID]
		require.Equal(t, tasks.DeferredTaskID(id, 1), info.ID)
		require.False(t, inFlight[id], "a delivery in flight was also deferred")
		require.Zero(t, info.Retried, "a deferral used a retry")
		require.Equal(t, h.cfg.WebhookMaxRetries, info.MaxRetry, "the copy shows the worker's retry limit")
		require.Empty(t, info.LastErr, "a deferral is not an error")
		deferred[id] = true
	}
	require.Len(t, deferred, n-2)
	for _, q := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){h.inspector.ListRetryTasks, h.inspector.ListArchivedTasks} {
		got, err := q(tasks.QueueAppPlatform)
		require.NoError(t, err)
		require.Empty(t, got, "a deferral appears in Retry or Archived")
	}
	// The originals are finished: a deferral does not keep them active.
	for id := range deferred {
		info, err := h.inspector.GetTaskInfo(tasks.QueueAppPlatform, id)
		require.NoError(t, err)
		require.Equal(t, asynq.TaskStateCompleted, info.State)
	}

	// The receiver recovers; run the deferred copies now (as an operator
	// can in the UI) rather than wait for their time.
	slow.releaseAll()
	for _, info := range scheduled {
		require.NoError(t, h.inspector.RunTask(tasks.QueueAppPlatform, info.ID))
	}
	got := map[string]int{}
	h.waitFor(func() bool {
		clear(got)
		for _, r := range slow.requests() {
			got[r.Header.Get("Hookworker-Delivery-ID")]++
		}
		return len(got) == n
	}, "not every delivery arrived")
	for _, id := range ids {
		require.Equal(t, 1, got[id], "delivery %s arrived %d times under its own id", id, got[id])
	}
}

// A busy app whose receiver answers at once is never deferred, though its
// first limit is half the slots: its limit grows with its answers, and
// deliveries over it wait for a slot meanwhile.
func TestFastAppIsNotDeferred(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 20
		c.WorkerFetchers = 1
		// The first wave, before any answer, fits in the first limit plus
		// the waiters' bound (half the slots): what is tested is that the
		// limit grows and that a fast app is never taken for stuck.
		c.WebhookAppConcurrency = 10
		c.WebhookTimeout = 2 * time.Second
	}})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond) // the receiver's latency, part of the scenario
		w.WriteHeader(http.StatusOK)
	})
	a := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppPublished})
	const n = 300
	for range n {
		h.enqueue(cacheIssue(a.InstallationID))
	}
	h.waitFor(func() bool { return rc.count() == n }, "not every delivery arrived")
	require.Zero(t, deferredOf(h.w.Metrics, a.SentryAppSlug), "a fast app was deferred")
	limit, ok := h.w.Deliverer.AppLimit(a.SentryAppID)
	require.True(t, ok)
	require.Equal(t, 20, limit.Limit, "the limit grew to the whole concurrency")
}

// The burst scenario at small scale: a burst for an app whose receiver
// hangs, enqueued just before tasks for healthy apps. The hanging app gets
// its first limit of requests and no more, the healthy deliveries all
// arrive while its requests still hang (before any times out), and none of
// them is deferred.
func TestBurstForAHangingAppDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 16
		c.WebhookAppConcurrency = 2
		c.WebhookTimeout = 10 * time.Second
	}})
	runBurst(t, h, []*metrics.Metrics{h.w.Metrics}, 1)
}

// The same burst with 3 worker processes on one Redis: the hanging app
// holds at most its first limit in each, and the healthy apps are served
// by all of them before any of its requests times out.
func TestBurstWithThreeWorkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 16
		c.WebhookAppConcurrency = 2
		c.WebhookTimeout = 10 * time.Second
	}})
	w2, _ := startCacheWorker(t, h)
	w3, _ := startCacheWorker(t, h)
	runBurst(t, h, []*metrics.Metrics{h.w.Metrics, w2.Metrics, w3.Metrics}, 3)
}

// runBurst enqueues 60 tasks for a hanging app, then 60 for 4 healthy ones,
// and checks fairness and bounds over workers worker processes.
func runBurst(t *testing.T, h *harness, ms []*metrics.Metrics, workers int) {
	t.Helper()
	hang := newHoldingReceiver(t)
	ok := statusReceiver(t, http.StatusOK)
	dead := h.seed(models.SeedOptions{WebhookURL: hang.URL, Status: models.AppPublished})
	var healthy []models.SeedResult
	for range 4 {
		healthy = append(healthy, h.seed(models.SeedOptions{WebhookURL: ok.URL, Status: models.AppPublished}))
	}
	const n = 60
	enqueue := func(inst int64) {
		task, err := tasks.NewResourceChangeTask(cacheIssue(inst))
		require.NoError(t, err)
		_, err = h.client.EnqueueContext(context.Background(), task)
		require.NoError(t, err)
	}
	for range n {
		enqueue(dead.InstallationID)
	}
	for i := range n {
		enqueue(healthy[i%len(healthy)].InstallationID)
	}
	h.waitFor(func() bool { return ok.count() == n }, "the healthy deliveries did not all arrive")
	open, maxOpen := hang.counts()
	require.Positive(t, open, "the hanging app's requests ended before the healthy ones were done")
	require.LessOrEqual(t, maxOpen, 2*workers, "the hanging app got more requests than its first limit in each worker")
	timeouts := 0.0
	for _, m := range ms {
		timeouts += testutil.ToFloat64(m.Responses.WithLabelValues("timeout", dead.SentryAppSlug, "issue.created"))
		for _, hs := range healthy {
			require.Zero(t, deferredOf(m, hs.SentryAppSlug), "a healthy app was deferred")
		}
	}
	require.Zero(t, timeouts, "the healthy deliveries were done only after the hanging ones timed out")
	h.waitFor(func() bool {
		total := 0.0
		for _, m := range ms {
			total += deferredOf(m, dead.SentryAppSlug)
		}
		return total >= n-2*float64(workers)
	}, "the hanging app's deliveries over its limit were not deferred")
}

// waitDelivery polls until delivery id — the task itself, or a deferred
// copy of it — reaches state, and returns that task.
func (h *harness) waitDelivery(id string, state asynq.TaskState) *asynq.TaskInfo {
	h.t.Helper()
	var found *asynq.TaskInfo
	require.Eventually(h.t, func() bool {
		if info, err := h.inspector.GetTaskInfo(tasks.QueueAppPlatform, id); err == nil && info.State == state {
			found = info
			return true
		}
		var list []*asynq.TaskInfo
		var err error
		switch state {
		case asynq.TaskStateArchived:
			list, err = h.inspector.ListArchivedTasks(tasks.QueueAppPlatform, asynq.PageSize(10000))
		case asynq.TaskStateCompleted:
			list, err = h.inspector.ListCompletedTasks(tasks.QueueAppPlatform, asynq.PageSize(10000))
		default:
			h.t.Fatalf("waitDelivery: state %s not supported", state)
		}
		if err != nil {
			return false
		}
		for _, info := range list {
			if info.Headers[tasks.HeaderDeliveryID] == id {
				found = info
				return true
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "delivery %s never reached state %s", id, state)
	return found
}

// retriesSpent is the retries a delivery spent: its task's own, plus those
// spent before it was deferred (HeaderRetried on a deferred copy).
func retriesSpent(info *asynq.TaskInfo) int {
	n, _ := strconv.Atoi(info.Headers[tasks.HeaderRetried])
	return info.Retried + n
}
