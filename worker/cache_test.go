package worker_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/worker"
)

// cacheNow is the breaker clock of these tests: a fixed instant, so the
// daily keys are known in advance.
func cacheNow() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

// cacheSeed seeds an installation whose app id is large and random. The
// invalidation channel is shared by every Redis database of the server, so
// workers of other tests (whose seeded apps have small ids) publish on it
// too; a distinct id keeps their invalidations from touching this test's
// caches.
func cacheSeed(t *testing.T, db *gorm.DB, o models.SeedOptions) models.SeedResult {
	t.Helper()
	require.NoError(t, db.Exec("SELECT setval(pg_get_serial_sequence('sentry_apps', 'id'), ?)",
		1<<40+rand.Int64N(1<<40)).Error)
	if o.Events == nil {
		o.Events = []string{"issue.created", "issue.resolved", "error.created"}
	}
	res, err := models.Seed(db, o)
	require.NoError(t, err)
	return res
}

// cacheIssue is an issue.created delivery to installationID.
func cacheIssue(installationID int64) tasks.ResourceChange {
	return tasks.ResourceChange{InstallationID: installationID, Event: "issue.created",
		Data: json.RawMessage(`{"issue":{"id":"1"}}`)}
}

// startCacheWorker starts a second worker on h's Redis database and schema,
// with h's configuration and its own metrics and logs, like another
// process.
func startCacheWorker(t *testing.T, h *harness) (*worker.Worker, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return h.extraWorker("second", core, nil, cacheNow), logs
}

// TestCacheDisableReachesEveryWorker checks that when one worker disables
// an app, the other worker's cache (with a TTL far longer than the test)
// forgets it too: neither sends the app anything afterwards.
func TestCacheDisableReachesEveryWorker(t *testing.T) {
	t.Parallel()
	// The first two requests are held until both have arrived: with
	// concurrency 1 per worker, that proves both workers loaded the target.
	both := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 2 {
			once.Do(func() { close(both) })
		}
		if n <= 2 {
			select {
			case <-both:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
		w.WriteHeader(http.StatusBadRequest)
	})
	h := newHarness(t, harnessOptions{now: cacheNow, config: func(c *config.Config) {
		c.CacheTTL = time.Minute
		c.WorkerConcurrency = 1
		c.WebhookTimeout = 15 * time.Second // the receiver holds the first answers
	}})
	seed := cacheSeed(t, h.pg.DB, models.SeedOptions{WebhookURL: rc.URL + "/hook", Status: models.AppInternal})
	second, secondLogs := startCacheWorker(t, h)
	deliver := func() string {
		info := h.enqueue(cacheIssue(seed.InstallationID))
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		return info.ID
	}

	// Both workers deliver once (a 400 today: an error day, not yet broken)
	// and so cache the target.
	warm := []*asynq.TaskInfo{h.enqueue(cacheIssue(seed.InstallationID)), h.enqueue(cacheIssue(seed.InstallationID))}
	for _, info := range warm {
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
	}
	require.Equal(t, 2, rc.count())
	require.Positive(t, testutil.CollectAndCount(h.w.Metrics.Responses), "the first worker delivered")
	require.Positive(t, testutil.CollectAndCount(second.Metrics.Responses), "the second worker delivered")

	// The six days before today were error days too: the next error breaks
	// the app, on whichever worker handles it.
	ctx := context.Background()
	pipe := h.rdb.Pipeline()
	for d := 1; d <= 6; d++ {
		key := breaker.Key(seed.SentryAppID, seed.OrganizationID, cacheNow().AddDate(0, 0, -d))
		pipe.HIncrBy(ctx, key, "error_count", 1)
		pipe.Expire(ctx, key, 8*24*time.Hour)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	deliver()
	require.Equal(t, 3, rc.count())
	disabledHere := h.logs.FilterMessage("sentryapp.disabled").Len()
	disabledThere := secondLogs.FilterMessage("sentryapp.disabled").Len()
	require.Equal(t, 1, disabledHere+disabledThere, "the app was disabled once")
	t.Logf("disabled by the first worker: %v", disabledHere == 1)
	var events string
	require.NoError(t, h.pg.DB.Raw("SELECT events::text FROM sentry_apps WHERE id = ?", seed.SentryAppID).Scan(&events).Error)
	require.Equal(t, "[]", events)

	// Deliver until each worker has skipped at least one task: whichever
	// did not disable the app learnt it only through the invalidation, as
	// its cached target (events not empty) would live another minute.
	skippedBy := func(logs *observer.ObservedLogs) int {
		return logs.FilterMessage("send_webhooks.app_disabled").Len()
	}
	later := 0
	for round := 0; round < 50 && (skippedBy(h.logs) == 0 || skippedBy(secondLogs) == 0); round++ {
		pair := []*asynq.TaskInfo{h.enqueue(cacheIssue(seed.InstallationID)), h.enqueue(cacheIssue(seed.InstallationID))}
		for _, info := range pair {
			h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		}
		later += len(pair)
		require.Equal(t, 3, rc.count(), "nothing is sent to a disabled app")
	}
	require.Positive(t, skippedBy(h.logs), "the first worker handled a task after the disable")
	require.Positive(t, skippedBy(secondLogs), "the second worker handled a task after the disable")
	require.Equal(t, later, skippedBy(h.logs)+skippedBy(secondLogs), "every later task was skipped as disabled")
	t.Logf("%d later tasks: %d skipped by the first worker, %d by the second", later, skippedBy(h.logs), skippedBy(secondLogs))
}

// sqlCounter records every SQL statement a GORM handle runs.
type sqlCounter struct {
	mu    sync.Mutex
	stmts []string
}

// countSQL registers sqlCounter after every GORM callback chain of db.
// Raw(...).Scan runs the Row chain, Pluck and Find the Query chain, Exec the
// Raw chain. Register it before any goroutine uses db.
func countSQL(t *testing.T, db *gorm.DB) *sqlCounter {
	t.Helper()
	c := &sqlCounter{}
	record := func(tx *gorm.DB) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stmts = append(c.stmts, tx.Statement.SQL.String())
	}
	cb := db.Callback()
	require.NoError(t, cb.Create().After("gorm:create").Register("cachetest:count", record))
	require.NoError(t, cb.Query().After("gorm:query").Register("cachetest:count", record))
	require.NoError(t, cb.Update().After("gorm:update").Register("cachetest:count", record))
	require.NoError(t, cb.Delete().After("gorm:delete").Register("cachetest:count", record))
	require.NoError(t, cb.Row().After("gorm:row").Register("cachetest:count", record))
	require.NoError(t, cb.Raw().After("gorm:raw").Register("cachetest:count", record))
	return c
}

// statements returns the statements recorded so far.
func (c *sqlCounter) statements() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.stmts...)
}

// targetQueries counts the statements that load a delivery target.
func targetQueries(stmts []string) int {
	n := 0
	for _, s := range stmts {
		if strings.Contains(s, "FROM sentry_app_installations") {
			n++
		}
	}
	return n
}

// TestCacheSQLPerDelivery counts the SQL statements of 50 deliveries to one
// installation: one target query in all with the cache on (the first miss;
// concurrent misses share it), one per delivery with it off.
func TestCacheSQLPerDelivery(t *testing.T) {
	t.Parallel()
	const deliveries = 50
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		wantSQL  int
		wantLoad int
	}{
		{"cache on", time.Minute, 1, 1},
		{"cache off", 0, deliveries, deliveries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := statusReceiver(t, http.StatusOK)
			rdb := testenv.NewRedis(t)
			pg := testenv.NewPostgres(t)
			require.NoError(t, models.Migrate(pg.DB))
			seed := cacheSeed(t, pg.DB, models.SeedOptions{WebhookURL: rc.URL + "/hook", Status: models.AppInternal})

			// The worker gets a handle of its own with the counter
			// registered before it starts.
			db, err := gorm.Open(postgres.Open(pg.URL), &gorm.Config{Logger: logger.Discard})
			require.NoError(t, err)
			t.Cleanup(func() {
				if sqlDB, err := db.DB(); err == nil {
					sqlDB.Close()
				}
			})
			counter := countSQL(t, db)
			cfg := testConfig()
			cfg.CacheTTL = tc.ttl
			w, err := worker.New(worker.Deps{Config: cfg, Redis: rdb.Client, DB: db,
				Log: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)), Now: cacheNow})
			require.NoError(t, err)
			require.NoError(t, w.Start())
			t.Cleanup(w.Shutdown)
			client := asynq.NewClientFromRedisClient(rdb.Client)
			inspector := asynq.NewInspectorFromRedisClient(rdb.Client)

			var ids []string
			for range deliveries {
				task, err := tasks.NewResourceChangeTask(cacheIssue(seed.InstallationID), asynq.Retention(time.Hour))
				require.NoError(t, err)
				info, err := client.Enqueue(task)
				require.NoError(t, err)
				ids = append(ids, info.ID)
			}
			for _, id := range ids {
				require.Eventually(t, func() bool {
					info, err := inspector.GetTaskInfo(tasks.QueueAppPlatform, id)
					return err == nil && info.State == asynq.TaskStateCompleted
				}, 15*time.Second, 5*time.Millisecond, "task %s never completed", id)
			}
			require.Equal(t, deliveries, rc.count(), "every delivery was sent")

			// The e-mail outbox sweep at start is not the deliveries'.
			stmts := slices.DeleteFunc(counter.statements(), func(s string) bool {
				return strings.Contains(s, "hookworker_email_outbox")
			})
			require.Equal(t, tc.wantLoad, targetQueries(stmts), "target queries")
			require.Len(t, stmts, tc.wantSQL, "SQL statements in all: %q", stmts)
			t.Logf("%d deliveries, %d SQL statements", deliveries, len(stmts))
		})
	}
}
