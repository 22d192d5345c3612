package worker_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
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

// A slow app holds at most WEBHOOK_APP_CONCURRENCY of a worker's slots: once
// its deliveries in flight have been running for WEBHOOK_TIMEOUT/10 on
// average, its other deliveries go back to the queue without using a retry,
// another app's deliveries go through meanwhile, a task asynq would archive
// on any error is delivered over the limit, and in the end every webhook
// arrives.
func TestAppConcurrencyBoundsASlowApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 8
		c.WebhookAppConcurrency = 2
		// Held requests should not time out (a timeout is retried, which
		// is fine but not what this test is about); deferred tasks come
		// back after 3–6 s.
		c.WebhookTimeout = 3 * time.Second
	}})
	slow := newHoldingReceiver(t)
	fast := statusReceiver(t, http.StatusOK)
	a := h.seed(models.SeedOptions{WebhookURL: slow.URL, Status: models.AppPublished})
	b := h.seed(models.SeedOptions{WebhookURL: fast.URL, Status: models.AppPublished})

	var ids []string
	for range 2 {
		ids = append(ids, h.enqueue(cacheIssue(a.InstallationID)).ID)
	}
	h.waitFor(func() bool { open, _ := slow.counts(); return open == 2 }, "the slow app never had 2 deliveries in flight")
	// The rule is about time: the app becomes slow once its two requests
	// have been open for WEBHOOK_TIMEOUT/10 (300 ms) on average.
	time.Sleep(h.cfg.WebhookTimeout / 10)
	// Two more: as many as the app takes per WEBHOOK_TIMEOUT, so they are
	// deferred by 1–2 × WEBHOOK_TIMEOUT (more would wait longer).
	for range 2 {
		ids = append(ids, h.enqueue(cacheIssue(a.InstallationID)).ID)
	}
	h.waitFor(func() bool { return testutil.ToFloat64(h.w.Metrics.Deferred) >= 2 }, "the slow app's other deliveries were not deferred")

	// The other app is not held up behind the slow one.
	for range 3 {
		h.enqueue(cacheIssue(b.InstallationID))
	}
	h.waitFor(func() bool { fast.mu.Lock(); defer fast.mu.Unlock(); return len(fast.reqs) == 3 }, "the healthy app's deliveries waited behind the slow app")
	open, maxOpen := slow.counts()
	require.Equal(t, 2, open, "the slow app's requests were released early")
	require.Equal(t, 2, maxOpen, "the slow app held more slots than WEBHOOK_APP_CONCURRENCY")

	// The deferred tasks wait as retries that used none of their budget.
	var deferred []*asynq.TaskInfo
	h.waitFor(func() bool {
		var err error
		deferred, err = h.inspector.ListRetryTasks(tasks.QueueAppPlatform)
		return err == nil && len(deferred) == 2
	}, "the 2 deferred tasks are not waiting as retries")
	for _, info := range deferred {
		require.Zero(t, info.Retried, "a deferral used one of task %s's retries", info.ID)
		require.Contains(t, info.LastErr, "slow deliveries in flight in this worker")
	}

	// A task without a retry left is never deferred: asynq would archive it.
	last := h.enqueue(cacheIssue(a.InstallationID), asynq.MaxRetry(0))
	ids = append(ids, last.ID)
	h.waitFor(func() bool { open, _ := slow.counts(); return open == 3 }, "the task on its last attempt was not delivered over the limit")

	slow.releaseAll()
	for _, id := range ids {
		h.waitState(tasks.QueueAppPlatform, id, asynq.TaskStateCompleted)
	}
	_, maxOpen = slow.counts()
	require.Equal(t, 3, maxOpen)
	slow.mu.Lock()
	defer slow.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range slow.reqs {
		seen[r.Header.Get("Hookworker-Delivery-ID")] = true
	}
	require.Len(t, seen, len(ids), "every webhook arrives")
	for _, id := range ids {
		require.True(t, seen[id], "task %s never arrived", id)
	}
}

// An app that answers quickly is not held back by WEBHOOK_APP_CONCURRENCY:
// only slow apps are.
func TestAppConcurrencySparesAFastApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 8
		c.WebhookAppConcurrency = 1
		c.WebhookTimeout = 3 * time.Second // slow means 300 ms on average
	}})
	// Each request waits until 4 are open at once (or 2 s pass), then all
	// answer: possible only if the app is not limited to 1.
	const together = 4
	all := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == together {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	a := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppPublished})
	var ids []string
	for range together {
		ids = append(ids, h.enqueue(cacheIssue(a.InstallationID)).ID)
	}
	for _, id := range ids {
		h.waitState(tasks.QueueAppPlatform, id, asynq.TaskStateCompleted)
	}
	select {
	case <-all:
	default:
		t.Fatal("the deliveries never were in flight together: the fast app was limited")
	}
	require.Zero(t, testutil.ToFloat64(h.w.Metrics.Deferred))
}
