package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/tasks"
)

// disableNow is the injected clock of the disable tests.
func disableNow() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

const disableBaseURL = "https://sentry.example.com"

// recipient is an owner who must get the e-mail.
type recipient = testenv.Recipient

// disableBundle is what the Disabler tests work with.
type disableBundle struct {
	redis     *testenv.Redis
	pg        *testenv.Postgres
	seed      models.SeedResult
	target    *store.Target
	owners    []recipient // who must get an e-mail, by user id
	others    []string    // addresses that must not get one
	metrics   *metrics.Metrics
	logs      *observer.ObservedLogs
	log       *zap.Logger
	client    *asynq.Client
	inspector *asynq.Inspector
}

// setupDisable seeds an internal app whose organization has the full cast
// of members (see addMembers) and a breaker history of 31 error days.
func setupDisable(t *testing.T) *disableBundle {
	t.Helper()
	b := &disableBundle{redis: testenv.NewRedis(t), pg: testenv.NewPostgres(t), metrics: metrics.New()}
	require.NoError(t, models.Migrate(b.pg.DB))
	core, logs := observer.New(zapcore.DebugLevel)
	b.logs, b.log = logs, zap.New(core)
	b.client = asynq.NewClientFromRedisClient(b.redis.Client)
	b.inspector = asynq.NewInspectorFromRedisClient(b.redis.Client)

	var err error
	b.seed, err = models.Seed(b.pg.DB, models.SeedOptions{
		WebhookURL: "https://user:secret@hooks.example.com/in?x=<1>&y=2", Name: "my-app2go hooks",
		Status: models.AppInternal, Events: []string{"issue.created", "error.created"},
	})
	require.NoError(t, err)
	b.owners, b.others = testenv.AddMembers(t, b.pg.DB, b.seed.OrganizationID)
	b.target, err = store.New(b.pg.DB).Target(context.Background(), b.seed.InstallationID)
	require.NoError(t, err)
	writeErrorDays(t, b.redis, b.seed, disableNow(), 31)
	return b
}

// writeErrorDays marks n UTC days (today … today−(n−1)) of the seeded app as
// error days, the way the breaker writes them.
func writeErrorDays(t *testing.T, r *testenv.Redis, s models.SeedResult, now time.Time, n int) {
	t.Helper()
	pipe := r.Client.Pipeline()
	for i := range n {
		key := breaker.Key(s.SentryAppID, s.OrganizationID, now.AddDate(0, 0, -i))
		pipe.HIncrBy(context.Background(), key, "error_count", 1)
		pipe.Expire(context.Background(), key, 8*24*time.Hour)
	}
	_, err := pipe.Exec(context.Background())
	require.NoError(t, err)
}

// newDisabler returns a Disabler on the bundle's services, enqueuing with enq
// (the bundle's asynq client when nil).
func (b *disableBundle) newDisabler(enq tasks.Enqueuer, inv tasks.Invalidator) *tasks.Disabler {
	if enq == nil {
		enq = b.client
	}
	return tasks.NewDisabler(tasks.DisablerConfig{
		Store: store.New(b.pg.DB), Breaker: breaker.New(b.redis.Client, breaker.Options{Now: disableNow}),
		Enqueuer: enq, Invalidator: inv, Metrics: b.metrics, Log: b.log, BaseURL: disableBaseURL, MailMaxRetries: 4,
	})
}

// auditRows returns the audit entries of the seeded organization.
func (b *disableBundle) auditRows(t *testing.T) []models.AuditLogEntry {
	t.Helper()
	var rows []models.AuditLogEntry
	require.NoError(t, b.pg.DB.Order("id").Find(&rows).Error)
	return rows
}

// appEvents returns the app's events column as stored.
func (b *disableBundle) appEvents(t *testing.T) string {
	t.Helper()
	var events string
	require.NoError(t, b.pg.DB.Raw("SELECT events::text FROM sentry_apps WHERE id = ?", b.seed.SentryAppID).Scan(&events).Error)
	return events
}

// emailTasks returns the pending send_email tasks.
func (b *disableBundle) emailTasks(t *testing.T) []*asynq.TaskInfo {
	t.Helper()
	infos, err := b.inspector.ListPendingTasks(tasks.QueueEmail)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		require.NoError(t, err)
	}
	slices.SortFunc(infos, func(x, y *asynq.TaskInfo) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return infos
}

// breakerKeys returns how many of the app's 31 daily keys still exist.
func (b *disableBundle) breakerKeys(t *testing.T) (recent, oldest int64) {
	t.Helper()
	ctx := context.Background()
	for i := range 30 {
		n, err := b.redis.Client.Exists(ctx, breaker.Key(b.seed.SentryAppID, b.seed.OrganizationID, disableNow().AddDate(0, 0, -i))).Result()
		require.NoError(t, err)
		recent += n
	}
	oldest, err := b.redis.Client.Exists(ctx, breaker.Key(b.seed.SentryAppID, b.seed.OrganizationID, disableNow().AddDate(0, 0, -30))).Result()
	require.NoError(t, err)
	return recent, oldest
}

// requireDisabledOnce checks the full outcome of one disable.
func (b *disableBundle) requireDisabledOnce(t *testing.T) {
	t.Helper()
	require.Equal(t, "[]", b.appEvents(t))

	rows := b.auditRows(t)
	require.Len(t, rows, 1, "one audit entry")
	a := rows[0]
	require.Equal(t, b.seed.OrganizationID, a.OrganizationID)
	require.Equal(t, "Sentry", a.ActorLabel)
	require.Nil(t, a.ActorID)
	require.Equal(t, b.seed.OrganizationID, a.TargetObject)
	require.Equal(t, 131, a.Event)
	require.Equal(t, models.JSONObject{"name": "my-app2go hooks"}, a.Data)
	require.True(t, a.Datetime.Equal(disableNow()), "audit datetime %s", a.Datetime)

	infos := b.emailTasks(t)
	require.Len(t, infos, len(b.owners), "one e-mail task per active owner")
	var wantIDs, gotIDs []string
	for _, o := range b.owners {
		wantIDs = append(wantIDs, tasks.EmailTaskID(a.ID, o.UserID))
	}
	settings := disableBaseURL + "/settings/" + b.seed.OrganizationSlug + "/developer-settings/" + b.seed.SentryAppSlug + "/"
	for _, info := range infos {
		gotIDs = append(gotIDs, info.ID)
		require.Equal(t, tasks.TypeSendEmail, info.Type)
		require.Equal(t, tasks.QueueEmail, info.Queue)
		require.Equal(t, 4, info.MaxRetry)
		var m mail.Message
		require.NoError(t, json.Unmarshal(info.Payload, &m))
		require.Equal(t, "Action required: Fix your My-App2Go Hooks integration", m.Subject)
		require.Contains(t, m.Text, settings+"?referrer=disabled-sentry-app")
		require.Contains(t, m.Text, settings+"dashboard/?referrer=disabled-sentry-app")
		// The webhook URL is shown with its password hidden.
		require.Contains(t, m.Text, "https://user:xxxxx@hooks.example.com/in?x=<1>&y=2")
		require.Contains(t, m.HTML, "https://user:xxxxx@hooks.example.com/in?x=&lt;1&gt;&amp;y=2")
		require.NotContains(t, m.Text+m.HTML, "secret")
		require.True(t, slices.ContainsFunc(b.owners, func(o recipient) bool { return o.Email == m.To }), "e-mail to %s", m.To)
		require.NotContains(t, b.others, m.To)
	}
	slices.Sort(wantIDs)
	require.Equal(t, wantIDs, gotIDs)

	recent, oldest := b.breakerKeys(t)
	require.Zero(t, recent, "the 30 daily keys are deleted")
	require.EqualValues(t, 1, oldest, "today-30 is not the breaker's to delete")

	require.EqualValues(t, 1, testutil.ToFloat64(b.metrics.Disabled))
	logged := b.logs.FilterMessage("sentryapp.disabled").All()
	require.Len(t, logged, 1)
	fields := logged[0].ContextMap()
	require.Equal(t, "https://user:xxxxx@hooks.example.com/in?x=<1>&y=2", fields["sentryapp_webhook"])
	require.Equal(t, b.seed.SentryAppSlug, fields["sentryapp_slug"])
	require.Equal(t, b.seed.SentryAppUUID, fields["sentryapp_uuid"])
	require.Equal(t, b.seed.OrganizationID, fields["org_id"])
	require.Equal(t, a.ID, fields["audit_log_entry_id"])
	require.EqualValues(t, len(b.owners), fields["emails_enqueued"])
	require.Zero(t, b.pendingOutbox(t), "every e-mail of the outbox is enqueued")
}

// recordingInvalidator records InvalidateApp calls.
type recordingInvalidator struct {
	mu   sync.Mutex
	apps []int64
}

func (r *recordingInvalidator) InvalidateApp(appID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.apps = append(r.apps, appID)
}

func TestDisableSequence(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	inv := &recordingInvalidator{}
	d := b.newDisabler(nil, inv)

	require.NoError(t, d.Disable(context.Background(), b.target))
	b.requireDisabledOnce(t)
	require.Equal(t, []int64{b.seed.SentryAppID}, inv.apps)

	// The same target again, as a redelivered task would: nothing more.
	require.NoError(t, d.Disable(context.Background(), b.target))
	require.NoError(t, b.newDisabler(nil, inv).Disable(context.Background(), b.target))
	b.requireDisabledOnce(t)
	require.Len(t, inv.apps, 1)
}

func TestDisableConcurrentWorkersFlipOnce(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	const workers = 8
	start := make(chan struct{})
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		d := b.newDisabler(nil, nil) // a Disabler per worker, as in separate processes
		wg.Go(func() {
			<-start
			errs <- d.Disable(context.Background(), b.target)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	b.requireDisabledOnce(t)
	require.Equal(t, workers-1, b.logs.FilterMessage("sentryapp.disable_skipped").Len(), "the others found it disabled")
}

func TestDisableAlreadyDisabledAppDoesNothing(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	require.NoError(t, b.pg.DB.Model(&models.SentryApp{}).Where("id = ?", b.seed.SentryAppID).
		UpdateColumn("events", models.StringList{}).Error)

	require.NoError(t, b.newDisabler(nil, nil).Disable(context.Background(), b.target))
	require.Empty(t, b.auditRows(t))
	require.Empty(t, b.emailTasks(t))
	recent, _ := b.breakerKeys(t)
	require.EqualValues(t, 30, recent, "the breaker is left alone")
	require.Zero(t, testutil.ToFloat64(b.metrics.Disabled))
	require.Zero(t, b.logs.FilterMessage("sentryapp.disabled").Len())
}

// TestDisableNoLongerBroken: a caller that found the app broken before an
// operator re-enabled it (and cleared its counters) does not disable it
// again: the breaker is asked again inside the transaction.
func TestDisableNoLongerBroken(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	brk := breaker.New(b.redis.Client, breaker.Options{Now: disableNow})
	require.NoError(t, brk.Clear(context.Background(), b.seed.SentryAppID, b.seed.OrganizationID))
	require.NoError(t, b.newDisabler(nil, nil).Disable(context.Background(), b.target))
	require.Contains(t, b.appEvents(t), "issue.created")
	require.Empty(t, b.auditRows(t))
	require.Zero(t, b.pendingOutbox(t))
	require.Zero(t, testutil.ToFloat64(b.metrics.Disabled))
}

// cancellingEnqueuer cancels the task's context after the first enqueue, the
// way a shutdown arriving mid-sequence would.
type cancellingEnqueuer struct {
	next   tasks.Enqueuer
	cancel context.CancelFunc
	calls  atomic.Int32
}

func (c *cancellingEnqueuer) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.next.EnqueueContext(ctx, task, opts...)
	if c.calls.Add(1) == 1 {
		c.cancel()
	}
	return info, err
}

func TestDisableFinishesAfterTaskContextEnds(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	enq := &cancellingEnqueuer{next: b.client, cancel: cancel}

	require.NoError(t, b.newDisabler(enq, nil).Disable(ctx, b.target))
	require.Error(t, ctx.Err(), "the task's context was cancelled mid-sequence")
	require.EqualValues(t, len(b.owners), enq.calls.Load())
	b.requireDisabledOnce(t)
}

// failingEnqueuer refuses every task.
type failingEnqueuer struct{}

func (failingEnqueuer) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	return nil, errors.New("redis is gone")
}

// pendingOutbox returns how many e-mails of the outbox are not enqueued yet.
func (b *disableBundle) pendingOutbox(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.pg.DB.Model(&models.EmailOutbox{}).Where("enqueued_at IS NULL").Count(&n).Error)
	return n
}

// TestDisableEnqueueFailure: when the e-mails cannot be enqueued after the
// commit, the app stays disabled with its audit entry, the e-mails wait in
// the outbox, and the next sweep enqueues each of them once.
func TestDisableEnqueueFailure(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	err := b.newDisabler(failingEnqueuer{}, nil).Disable(context.Background(), b.target)
	require.ErrorContains(t, err, "enqueue e-mail integration-disabled:")
	require.ErrorContains(t, err, "redis is gone")

	require.Equal(t, "[]", b.appEvents(t))
	require.Len(t, b.auditRows(t), 1)
	recent, _ := b.breakerKeys(t)
	require.Zero(t, recent, "the breaker is cleared even when the e-mails failed")
	logged := b.logs.FilterMessage("sentryapp.disabled").All()
	require.Len(t, logged, 1)
	require.EqualValues(t, 0, logged[0].ContextMap()["emails_enqueued"])
	require.Empty(t, b.emailTasks(t))
	require.EqualValues(t, len(b.owners), b.pendingOutbox(t), "the e-mails wait in the outbox")

	// A redelivered task finds the app disabled: nothing more.
	require.NoError(t, b.newDisabler(nil, nil).Disable(context.Background(), b.target))
	require.Empty(t, b.emailTasks(t))

	// The sweep enqueues them, once however often it runs.
	outbox := tasks.NewOutbox(b.pg.DB, b.client, b.log, 4)
	n, err := outbox.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, len(b.owners), n)
	n, err = outbox.Sweep(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Zero(t, b.pendingOutbox(t))
	var want, got []string
	for _, o := range b.owners {
		want = append(want, tasks.EmailTaskID(b.auditRows(t)[0].ID, o.UserID))
	}
	for _, info := range b.emailTasks(t) {
		got = append(got, info.ID)
	}
	require.ElementsMatch(t, want, got, "one e-mail task per owner")
}

// TestDisableKilledAfterCommit stands for a process killed between the
// commit and the enqueue: nothing is in Redis yet, everything is in the
// outbox, and sweeps from two workers at once enqueue one task per owner.
func TestDisableKilledAfterCommit(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	d := tasks.NewDisabler(tasks.DisablerConfig{
		Store: store.New(b.pg.DB), Breaker: breaker.New(b.redis.Client, breaker.Options{Now: disableNow}),
		Enqueuer: b.client, Metrics: b.metrics, Log: b.log, BaseURL: disableBaseURL, MailMaxRetries: 4,
		AfterCommit: func() { panic("killed") },
	})
	require.PanicsWithValue(t, "killed", func() { _ = d.Disable(context.Background(), b.target) })
	require.Equal(t, "[]", b.appEvents(t))
	require.Len(t, b.auditRows(t), 1)
	require.Empty(t, b.emailTasks(t))
	require.EqualValues(t, len(b.owners), b.pendingOutbox(t))

	var wg sync.WaitGroup
	for range 2 {
		o := tasks.NewOutbox(b.pg.DB, asynq.NewClientFromRedisClient(b.redis.Client), b.log, 4)
		wg.Go(func() {
			_, err := o.Sweep(context.Background())
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Zero(t, b.pendingOutbox(t))
	infos := b.emailTasks(t)
	require.Len(t, infos, len(b.owners), "one e-mail task per owner")
	for _, info := range infos {
		require.Equal(t, 4, info.MaxRetry)
		require.Equal(t, tasks.QueueEmail, info.Queue)
	}
}

// TestDisableRecordsEvents checks that the events the app had are kept for
// a re-enable, in the disable's transaction.
func TestDisableRecordsEvents(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	require.NoError(t, b.newDisabler(nil, nil).Disable(context.Background(), b.target))
	var recs []models.AppDisable
	require.NoError(t, b.pg.DB.Find(&recs).Error)
	require.Len(t, recs, 1)
	r := recs[0]
	require.Equal(t, b.seed.SentryAppID, r.SentryAppID)
	require.Equal(t, b.seed.OrganizationID, r.OrganizationID)
	require.Equal(t, b.auditRows(t)[0].ID, r.AuditLogEntryID)
	require.Equal(t, models.StringList{"issue.created", "error.created"}, r.Events)
	require.True(t, r.DisabledAt.Equal(disableNow()))
	require.Nil(t, r.EnabledAt)
}

// TestDisableEmailTaskIDConflict checks that an e-mail task already enqueued
// under the deterministic id is neither duplicated nor reported as an error.
func TestDisableEmailTaskIDConflict(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	// A fresh schema numbers its first audit entry 1.
	first := b.owners[0]
	m, err := mail.BuildDisabledIntegration(first.Email, mail.DisabledIntegration{
		AppName: "x", AppSlug: "x", WebhookURL: "https://x.example.com", OrgSlug: "x", BaseURL: disableBaseURL,
	})
	require.NoError(t, err)
	task, err := tasks.NewSendEmailTask(m, asynq.TaskID(tasks.EmailTaskID(1, first.UserID)))
	require.NoError(t, err)
	_, err = b.client.Enqueue(task)
	require.NoError(t, err)

	require.NoError(t, b.newDisabler(nil, nil).Disable(context.Background(), b.target))
	require.Equal(t, int64(1), b.auditRows(t)[0].ID)
	infos := b.emailTasks(t)
	require.Len(t, infos, len(b.owners))
	for _, info := range infos {
		if info.ID == tasks.EmailTaskID(1, first.UserID) {
			require.Contains(t, string(info.Payload), `"subject":"Action required: Fix your X integration"`, "the first task is kept")
		}
	}
	require.EqualValues(t, len(b.owners), b.logs.FilterMessage("sentryapp.disabled").All()[0].ContextMap()["emails_enqueued"])
}

func TestOwnersOnlyActiveOwnersWithAddress(t *testing.T) {
	t.Parallel()
	b := setupDisable(t)
	got, err := store.New(b.pg.DB).Owners(context.Background(), b.seed.OrganizationID)
	require.NoError(t, err)
	var want []store.Owner
	for _, o := range b.owners {
		want = append(want, store.Owner{UserID: o.UserID, Email: o.Email})
	}
	require.Equal(t, want, got)
	slug, err := store.New(b.pg.DB).OrganizationSlug(context.Background(), b.seed.OrganizationID)
	require.NoError(t, err)
	require.Equal(t, b.seed.OrganizationSlug, slug)
}
