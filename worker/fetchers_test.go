package worker_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// An idle worker runs two asynq servers (two rows in the queue UI's
// Servers page: webhooks and e-mail); a backlog starts more for webhooks,
// up to WORKER_FETCHERS, and they stop once it is gone.
func TestFetchersFollowTheBacklog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 40
		c.WorkerFetchers = 4
	}})
	servers := func() int {
		s, err := h.inspector.Servers()
		require.NoError(t, err)
		return len(s)
	}
	h.waitFor(func() bool { return h.w.Fetchers() == 1 && servers() == 2 }, "an idle worker does not run two servers")

	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond) // the receiver's latency, part of the scenario
		w.WriteHeader(http.StatusOK)
	})
	a := h.seed(models.SeedOptions{WebhookURL: rc.URL})
	const n = 600
	pausedBacklog(h, a.InstallationID, n)
	require.NoError(t, h.inspector.UnpauseQueue(tasks.QueueAppPlatform))
	require.Eventually(t, func() bool { return h.w.Fetchers() == 4 }, time.Minute, 5*time.Millisecond, "a backlog did not start every fetcher")
	require.LessOrEqual(t, servers(), 5)
	require.Eventually(t, func() bool { return rc.count() == n }, time.Minute, 10*time.Millisecond, "not every delivery arrived")
	require.Eventually(t, func() bool { return h.w.Fetchers() == 1 && servers() == 2 }, time.Minute, 10*time.Millisecond,
		"the extra servers did not stop once the backlog was gone")
}

// A worker that starts while a backlog waits runs every fetcher the
// backlog asks for as soon as Start returns, not after its first ticks.
func TestWorkerStartedOnABacklogFetchesAtFullSpeedAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerConcurrency = 40
		c.WorkerFetchers = 4
	}})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	a := h.seed(models.SeedOptions{WebhookURL: rc.URL})
	const n = 200
	pausedBacklog(h, a.InstallationID, n)
	w := h.extraWorker("second", zapcore.NewNopCore(), nil, nil)
	require.Equal(t, 4, w.Fetchers(), "a worker started on a backlog of %d did not start its fetchers at once", n)
	require.NoError(t, h.inspector.UnpauseQueue(tasks.QueueAppPlatform))
	require.Eventually(t, func() bool { return rc.count() >= n }, time.Minute, 10*time.Millisecond, "not every delivery arrived")
}

// pausedBacklog pauses the webhook queue and enqueues n tasks for
// installation into it; the test unpauses it. A backlog built paused is
// released at once, so a slow machine's enqueue loop cannot turn it into
// a trickle that the base server keeps up with.
func pausedBacklog(h *harness, installation int64, n int) {
	h.t.Helper()
	require.NoError(h.t, h.inspector.PauseQueue(tasks.QueueAppPlatform))
	for range n {
		task, err := tasks.NewResourceChangeTask(cacheIssue(installation))
		require.NoError(h.t, err)
		_, err = h.client.Enqueue(task)
		require.NoError(h.t, err)
	}
}

// Each webhook task carries the retry limit the worker applies, which the
// queue UI shows ("Retry 0/3").
func TestTaskShowsTheWorkersRetryLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	require.Equal(t, config.Defaults().WebhookMaxRetries, tasks.TaskMaxRetry)
	rc := statusReceiver(t, http.StatusServiceUnavailable)
	a := h.seed(models.SeedOptions{WebhookURL: rc.URL})
	info := h.enqueue(cacheIssue(a.InstallationID))
	require.Equal(t, h.cfg.WebhookMaxRetries, info.MaxRetry)
	// And the worker ends the task there: 1 attempt + 3 retries, archived.
	got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
	require.Equal(t, h.cfg.WebhookMaxRetries, got.MaxRetry)
	require.Equal(t, 1+h.cfg.WebhookMaxRetries, rc.count())
}

// An idle worker waits on the doorbell, not on its always-on server's poll:
// with polls far apart (TASK_CHECK_INTERVAL 500 ms, so the fallback poll
// every 10 s) a lone task is still delivered at once, by the wake server,
// which stops again once the queue has been quiet for a while. (A worker
// with a slow poll also takes up to that long to shut down: asynq's fetch
// loop finishes its sleep first.)
func TestIdleWorkerWakesOnTheDoorbell(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WorkerFetchers = 4
		c.TaskCheckInterval = 500 * time.Millisecond
	}})
	servers := func() int {
		s, err := h.inspector.Servers()
		require.NoError(t, err)
		return len(s)
	}
	h.waitFor(func() bool { return h.w.Fetchers() == 1 && servers() == 2 }, "an idle worker does not run two servers")
	rc := statusReceiver(t, http.StatusOK)
	a := h.seed(models.SeedOptions{WebhookURL: rc.URL})
	for i := 1; i <= 2; i++ {
		h.enqueue(cacheIssue(a.InstallationID))
		require.Eventually(t, func() bool { return rc.count() == i }, 3*time.Second, 5*time.Millisecond,
			"a lone task waited for a poll: the doorbell did not wake the worker")
		require.Eventually(t, func() bool { return h.w.Fetchers() == 1 && servers() == 2 }, time.Minute, 10*time.Millisecond,
			"the wake server did not stop once the queue was quiet")
	}
}
