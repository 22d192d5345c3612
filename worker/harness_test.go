package worker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/worker"
)

// harness is a running worker on its own Redis database and PostgreSQL
// schema, with an asynq client and inspector to drive and observe it.
type harness struct {
	t   *testing.T
	cfg config.Config
	// redis is the test Redis database the worker runs on; nil when
	// harnessOptions.redis chose another Redis (rdb).
	redis *testenv.Redis
	// rdb is the worker's Redis client: redis.Client, or the one
	// harnessOptions.redis returned.
	rdb       redis.UniversalClient
	pg        *testenv.Postgres
	w         *worker.Worker
	client    *asynq.Client
	inspector *asynq.Inspector
	logs      *observer.ObservedLogs
}

// harnessOptions adjust a harness before it starts.
type harnessOptions struct {
	// config changes the configuration (fast test defaults are already set).
	config func(*config.Config)
	// mail replaces the console mail sender.
	mail mail.Sender
	// now is the breaker's clock.
	now func() time.Time
	// redis, when set, returns the client of the Redis the worker runs on
	// (a Sentinel or cluster, see topologies) instead of a database of the
	// test Redis.
	redis func(t *testing.T) redis.UniversalClient
}

// testConfig is the configuration of test workers: fast polling and retries,
// loopback receivers allowed.
func testConfig() config.Config {
	c := config.Defaults()
	c.WorkerConcurrency = 10
	c.WebhookTimeout = 500 * time.Millisecond
	c.WebhookRetryDelay = 10 * time.Millisecond
	c.MailRetryDelay = 10 * time.Millisecond
	c.TaskCheckInterval = 10 * time.Millisecond
	c.DelayedTaskCheckInterval = 50 * time.Millisecond
	c.ShutdownTimeout = 2 * time.Second
	c.WebhookAllowPrivate = true
	c.HTTPAddr = "off"
	// Tests change rows between deliveries; the cache has tests of its own.
	c.CacheTTL = 0
	return c
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, cfg: testConfig(), pg: testenv.NewPostgres(t)}
	if o.redis != nil {
		h.rdb = o.redis(t)
	} else {
		h.redis = testenv.NewRedis(t)
		h.rdb = h.redis.Client
	}
	if o.config != nil {
		o.config(&h.cfg)
	}
	require.NoError(t, models.Migrate(h.pg.DB))

	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Core(), core))

	w, err := worker.New(worker.Deps{Config: h.cfg, Redis: h.rdb, DB: h.pg.DB, Log: log, Mail: o.mail, Now: o.now})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	h.w = w
	t.Cleanup(w.Shutdown)

	h.client = asynq.NewClientFromRedisClient(h.rdb)
	h.inspector = asynq.NewInspectorFromRedisClient(h.rdb)
	return h
}

// extraWorker starts one more worker on h's Redis database and schema with
// its own metrics, logging at debug level to core (and warnings to the test
// log), stopped at cleanup: for tests where several workers compete.
func (h *harness) extraWorker(name string, core zapcore.Core, sender mail.Sender, now func() time.Time) *worker.Worker {
	h.t.Helper()
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(h.t, zaptest.Level(zapcore.WarnLevel)).Core(), core)).Named(name)
	w, err := worker.New(worker.Deps{Config: h.cfg, Redis: h.rdb, DB: h.pg.DB, Log: log,
		Metrics: metrics.New(), Mail: sender, Now: now})
	require.NoError(h.t, err)
	require.NoError(h.t, w.Start())
	h.t.Cleanup(w.Shutdown)
	return w
}

// seed creates an installation (status from o: zero is unpublished; a few events by default).
func (h *harness) seed(o models.SeedOptions) models.SeedResult {
	h.t.Helper()
	if o.Events == nil {
		o.Events = []string{"issue.created", "issue.resolved", "error.created", "comment.created", "event_alert.triggered"}
	}
	res, err := models.Seed(h.pg.DB, o)
	require.NoError(h.t, err)
	return res
}

// enqueue enqueues a resource-change task kept for an hour after it ends,
// so its final state can be inspected.
func (h *harness) enqueue(p tasks.ResourceChange, opts ...asynq.Option) *asynq.TaskInfo {
	h.t.Helper()
	task, err := tasks.NewResourceChangeTask(p, append([]asynq.Option{asynq.Retention(time.Hour)}, opts...)...)
	require.NoError(h.t, err)
	info, err := h.client.Enqueue(task)
	require.NoError(h.t, err)
	return info
}

// enqueueRaw enqueues a resource-change task with an arbitrary payload.
func (h *harness) enqueueRaw(payload []byte) *asynq.TaskInfo {
	h.t.Helper()
	info, err := h.client.Enqueue(asynq.NewTask(tasks.TypeResourceChange, payload),
		asynq.Queue(tasks.QueueAppPlatform), asynq.Retention(time.Hour), asynq.MaxRetry(25))
	require.NoError(h.t, err)
	return info
}

// waitState polls until the task reaches state (completed or archived) or
// the deadline passes, and returns its final info.
func (h *harness) waitState(queue, id string, state asynq.TaskState) *asynq.TaskInfo {
	h.t.Helper()
	var info *asynq.TaskInfo
	require.Eventually(h.t, func() bool {
		var err error
		info, err = h.inspector.GetTaskInfo(queue, id)
		return err == nil && info.State == state
	}, time.Minute, 5*time.Millisecond, "task %s never reached state %s (last: %+v)", id, state, info)
	return info
}

// waitFor polls cond until it holds or a minute passes.
func (h *harness) waitFor(cond func() bool, msg string) {
	h.t.Helper()
	// Generous: a deadline costs nothing when the condition comes true, and
	// a 2-core machine running the whole suite under -race is slow.
	require.Eventually(h.t, cond, time.Minute, 5*time.Millisecond, msg)
}

// lrange returns a Redis list.
func (h *harness) lrange(key string) []string {
	h.t.Helper()
	v, err := h.rdb.LRange(context.Background(), key, 0, -1).Result()
	require.NoError(h.t, err)
	return v
}

// received is one request a receiver got.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server on loopback that records every request and
// answers with respond(n, w) for the n-th request (1-based).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		n := len(rc.reqs)
		rc.mu.Unlock()
		rc.respond(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// statusReceiver answers every request with code.
func statusReceiver(t *testing.T, code int) *receiver {
	return newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
}

// requests returns a copy of what was received so far.
func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// count returns how many requests arrived.
func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}
