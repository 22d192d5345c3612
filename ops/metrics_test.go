package ops_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/worker"
)

// TestMetricsAfterDeliveries runs a real worker against Redis and
// PostgreSQL, delivers three webhooks (two event types), and reads the
// series back through /metrics: the worker's counters and histogram with
// their labels, and asynq's queue series.
func TestMetricsAfterDeliveries(t *testing.T) {
	t.Parallel()
	r := scrapeAfterDeliveries(t)
	require.Equal(t, http.StatusOK, r.code)
	require.Contains(t, r.header.Get("Content-Type"), "text/plain")
	checkDeliveryMetrics(t, r)
}

// scrapeAfterDeliveries runs a real worker, delivers three webhooks (two
// event types) and returns the operator server's /metrics.
func scrapeAfterDeliveries(t *testing.T) reply {
	t.Helper()
	rdb := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	require.NoError(t, models.Migrate(pg.DB))
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))

	cfg := config.Defaults()
	cfg.WorkerConcurrency = 4
	cfg.TaskCheckInterval = 10 * time.Millisecond
	cfg.DelayedTaskCheckInterval = 50 * time.Millisecond
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.WebhookAllowPrivate = true
	m := metrics.New()
	w, err := worker.New(worker.Deps{Config: cfg, Redis: rdb.Client, DB: pg.DB, Log: log, Metrics: m})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)

	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(receiver.Close)
	seed, err := models.Seed(pg.DB, models.SeedOptions{WebhookURL: receiver.URL, Status: models.AppInternal,
		Events: []string{"issue.created", "error.created"}})
	require.NoError(t, err)

	client := asynq.NewClientFromRedisClient(rdb.Client)
	t.Cleanup(func() { client.Close() })
	inspector := asynq.NewInspectorFromRedisClient(rdb.Client)
	var ids []string
	for _, ev := range []string{"issue.created", "issue.created", "error.created"} {
		task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: ev,
			Data: json.RawMessage(`{"id":"1"}`)}, asynq.Retention(time.Hour))
		require.NoError(t, err)
		info, err := client.Enqueue(task)
		require.NoError(t, err)
		ids = append(ids, info.ID)
	}
	for _, id := range ids {
		require.Eventually(t, func() bool {
			info, err := inspector.GetTaskInfo(tasks.QueueAppPlatform, id)
			return err == nil && info.State == asynq.TaskStateCompleted
		}, 15*time.Second, 5*time.Millisecond, "task %s did not complete", id)
	}

	url := startServer(t, ops.Options{Redis: rdb.Client, RedisURL: rdb.URL, PingDB: ops.PingGorm(pg.DB), Gatherer: m.Registry, Log: log})
	return get(t, url+"/metrics", "")
}

// checkDeliveryMetrics checks the series of scrapeAfterDeliveries.
func checkDeliveryMetrics(t *testing.T, r reply) {
	t.Helper()

	want := map[string]float64{
		`hookworker_webhook_responses_total{integration="internal",status="200",webhook_event="issue.created"}`: 2,
		`hookworker_webhook_responses_total{integration="internal",status="200",webhook_event="error.created"}`: 1,
		`hookworker_resource_change_processed_total{change_event="issue.created"}`:                              2,
		`hookworker_resource_change_processed_total{change_event="error.created"}`:                              1,
		`hookworker_webhook_duration_seconds_count`:                                                             3,
		`hookworker_webhook_duration_seconds_bucket{le="+Inf"}`:                                                 3,
		`hookworker_integrations_disabled_total`:                                                                0,
		`asynq_tasks_processed_total{queue="app_platform"}`:                                                     3,
		`asynq_tasks_failed_total{queue="app_platform"}`:                                                        0,
		`asynq_tasks_enqueued_total{queue="app_platform",state="completed"}`:                                    3,
		`asynq_tasks_enqueued_total{queue="app_platform",state="pending"}`:                                      0,
		`asynq_queue_size{queue="app_platform"}`:                                                                3,
		`asynq_queue_paused_total{queue="app_platform"}`:                                                        0,
	}
	for series, v := range want {
		got, ok := sample(r.body, series)
		require.True(t, ok, "series %s missing from /metrics:\n%s", series, r.body)
		require.Equal(t, v, got, series)
	}
	_, ok := sample(r.body, `asynq_queue_latency_seconds{queue="app_platform"}`)
	require.True(t, ok, "queue latency series missing")
	_, ok = sample(r.body, `hookworker_webhook_responses_total{integration="internal",status="500",webhook_event="issue.created"}`)
	require.False(t, ok, "no 500 was answered")
}
