package lifecycle_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/tasks"
)

// lcNow is the clock of these tests.
func lcNow() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

// lcFixture is an internal app with a (deleted) installation in a second
// organization too, and the services a Manager works on.
type lcFixture struct {
	redis  *testenv.Redis
	db     *gorm.DB
	seed   models.SeedResult
	org2   int64
	logs   *observer.ObservedLogs
	mgr    *lifecycle.Manager
	events []string
}

func newLCFixture(t *testing.T) *lcFixture {
	t.Helper()
	f := &lcFixture{redis: testenv.NewRedis(t), db: testenv.NewPostgres(t).DB, events: []string{"issue.created", "error.created"}}
	require.NoError(t, models.Migrate(f.db))
	var err error
	f.seed, err = models.Seed(f.db, models.SeedOptions{WebhookURL: "https://hooks.example.com/in", Name: "lc app",
		Status: models.AppInternal, Events: f.events})
	require.NoError(t, err)
	// A deleted installation in another organization: its counters are
	// cleared too.
	other, err := models.Seed(f.db, models.SeedOptions{WebhookURL: "https://other.example.com", Status: models.AppInternal})
	require.NoError(t, err)
	f.org2 = other.OrganizationID
	deleted := lcNow()
	require.NoError(t, f.db.Create(&models.SentryAppInstallation{SentryAppID: f.seed.SentryAppID,
		OrganizationID: f.org2, Status: models.InstallationInstalled, DateDeleted: &deleted}).Error)
	core, logs := observer.New(zapcore.InfoLevel)
	f.logs = logs
	f.mgr = lifecycle.NewManager(lifecycle.Deps{DB: f.db, Redis: f.redis.Client, Log: zap.New(core), Now: lcNow})
	return f
}

// disable runs the breaker's disable sequence for the app.
func (f *lcFixture) disable(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	target, err := store.New(f.db).Target(ctx, f.seed.InstallationID)
	require.NoError(t, err)
	f.count(t, f.seed.OrganizationID, 1000) // broken
	d := tasks.NewDisabler(tasks.DisablerConfig{
		Store: store.New(f.db), Breaker: breaker.New(f.redis.Client, breaker.Options{Now: lcNow}),
		Enqueuer: asynq.NewClientFromRedisClient(f.redis.Client), Metrics: metrics.New(), Log: zap.NewNop(),
		BaseURL: "https://sentry.example.com", MailMaxRetries: 1,
	})
	require.NoError(t, d.Disable(ctx, target))
	require.Empty(t, f.appEvents(t))
}

func (f *lcFixture) appEvents(t *testing.T) models.StringList {
	t.Helper()
	var app models.SentryApp
	require.NoError(t, f.db.First(&app, f.seed.SentryAppID).Error)
	return app.Events
}

func (f *lcFixture) audit(t *testing.T) []models.AuditLogEntry {
	t.Helper()
	var rows []models.AuditLogEntry
	require.NoError(t, f.db.Order("id").Find(&rows).Error)
	return rows
}

// count writes n timeouts of org for the app, today.
func (f *lcFixture) count(t *testing.T, org int64, n int) {
	t.Helper()
	key := breaker.Key(f.seed.SentryAppID, org, lcNow())
	require.NoError(t, f.redis.Client.HIncrBy(context.Background(), key, "timeout_count", int64(n)).Err())
}

func (f *lcFixture) exists(t *testing.T, org int64) bool {
	t.Helper()
	n, err := f.redis.Client.Exists(context.Background(), breaker.Key(f.seed.SentryAppID, org, lcNow())).Result()
	require.NoError(t, err)
	return n == 1
}

func TestEnableRestoresRecordedEvents(t *testing.T) {
	t.Parallel()
	f := newLCFixture(t)
	ctx := context.Background()
	f.disable(t)
	// Another subscription on the hook must not matter: the recorded
	// events win.
	require.NoError(t, f.db.Model(&models.ServiceHook{}).Where("id = ?", f.seed.ServiceHookID).
		UpdateColumn("events", models.StringList{"comment.created"}).Error)
	f.count(t, f.seed.OrganizationID, 3)
	f.count(t, f.org2, 3)
	sub := f.redis.Client.Subscribe(ctx, store.InvalidateChannel)
	t.Cleanup(func() { sub.Close() })
	_, err := sub.Receive(ctx) // subscribed
	require.NoError(t, err)

	require.NoError(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, nil))
	require.Equal(t, models.StringList(f.events), f.appEvents(t))

	rows := f.audit(t)
	require.Len(t, rows, 2)
	e := rows[1]
	require.Equal(t, models.AuditInternalIntegrationEnabled, e.Event)
	require.Equal(t, 100131, e.Event)
	require.Equal(t, f.seed.OrganizationID, e.OrganizationID)
	require.Equal(t, f.seed.OrganizationID, e.TargetObject)
	require.Equal(t, lifecycle.AuditActorLabel, e.ActorLabel)
	require.Nil(t, e.ActorID)
	require.Equal(t, "lc app", e.Data["name"])
	require.Equal(t, []any{"issue.created", "error.created"}, e.Data["events"])
	require.True(t, e.Datetime.Equal(lcNow()))

	var rec models.AppDisable
	require.NoError(t, f.db.Take(&rec).Error)
	require.NotNil(t, rec.EnabledAt)
	require.True(t, rec.EnabledAt.Equal(lcNow()))
	require.Equal(t, e.ID, *rec.EnableAuditLogEntryID)

	require.False(t, f.exists(t, f.seed.OrganizationID), "counters cleared")
	require.False(t, f.exists(t, f.org2), "counters of a deleted installation's organization cleared")
	epoch, ok, err := breaker.New(f.redis.Client, breaker.Options{}).Epoch(ctx, f.seed.SentryAppID)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, epoch.Equal(lcNow()))

	msg, err := sub.ReceiveMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(f.seed.SentryAppID, 10), msg.Payload, "every worker's cache is told")

	logged := f.logs.FilterMessage("sentryapp.enabled").All()
	require.Len(t, logged, 1)
	fields := logged[0].ContextMap()
	require.Equal(t, f.seed.SentryAppSlug, fields["sentryapp_slug"])
	require.Equal(t, e.ID, fields["audit_log_entry_id"])

	// Again: already enabled, nothing more written.
	require.ErrorIs(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, nil), lifecycle.ErrAlreadyEnabled)
	require.Len(t, f.audit(t), 2)

	// A second disable and enable: the second record is the one restored.
	f.disable(t)
	require.NoError(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, []string{"comment.created", "comment.created"}))
	require.Equal(t, models.StringList{"comment.created"}, f.appEvents(t), "explicit events, each once")
	require.Len(t, f.audit(t), 4)
}

func TestEnableErrors(t *testing.T) {
	t.Parallel()
	f := newLCFixture(t)
	ctx := context.Background()
	require.ErrorIs(t, f.mgr.Enable(ctx, "no-such-app", nil), lifecycle.ErrNotFound)
	require.ErrorIs(t, f.mgr.ClearBreaker(ctx, "no-such-app"), lifecycle.ErrNotFound)
	require.ErrorIs(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, nil), lifecycle.ErrAlreadyEnabled)

	f.disable(t)
	err := f.mgr.Enable(ctx, f.seed.SentryAppSlug, []string{"issue.created", "issue.exploded"})
	require.ErrorIs(t, err, lifecycle.ErrInvalidEvent)
	require.ErrorContains(t, err, `"issue.exploded"`)
	require.Empty(t, f.appEvents(t), "nothing changed")
	require.Len(t, f.audit(t), 1)

	// A deleted app is not found.
	require.NoError(t, f.db.Model(&models.SentryApp{}).Where("id = ?", f.seed.SentryAppID).
		UpdateColumn("date_deleted", lcNow()).Error)
	require.ErrorIs(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, nil), lifecycle.ErrNotFound)
}

// TestEnableAppDisabledByHand: without a record of the disable, the events
// of the app's service hooks are restored; without those either, the
// operator must name them.
func TestEnableAppDisabledByHand(t *testing.T) {
	t.Parallel()
	f := newLCFixture(t)
	ctx := context.Background()
	require.NoError(t, f.db.Model(&models.SentryApp{}).Where("id = ?", f.seed.SentryAppID).
		UpdateColumn("events", models.StringList{}).Error)
	require.NoError(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, nil))
	require.Equal(t, models.StringList(f.events), f.appEvents(t))
	rows := f.audit(t)
	require.Len(t, rows, 1)
	require.Equal(t, f.seed.OrganizationID, rows[0].OrganizationID, "the owner organization")

	require.NoError(t, f.db.Model(&models.SentryApp{}).Where("id = ?", f.seed.SentryAppID).
		UpdateColumn("events", models.StringList{}).Error)
	require.NoError(t, f.db.Model(&models.ServiceHook{}).Where("id = ?", f.seed.ServiceHookID).
		UpdateColumn("events", models.StringList{}).Error)
	require.ErrorIs(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, nil), lifecycle.ErrNoEvents)
	require.NoError(t, f.mgr.Enable(ctx, f.seed.SentryAppSlug, []string{"issue.resolved"}))
	require.Equal(t, models.StringList{"issue.resolved"}, f.appEvents(t))
}

func TestClearBreaker(t *testing.T) {
	t.Parallel()
	f := newLCFixture(t)
	ctx := context.Background()
	f.count(t, f.seed.OrganizationID, 4)
	f.count(t, f.org2, 4)
	require.NoError(t, f.mgr.ClearBreaker(ctx, f.seed.SentryAppSlug))
	require.False(t, f.exists(t, f.seed.OrganizationID))
	require.False(t, f.exists(t, f.org2))
	_, ok, err := breaker.New(f.redis.Client, breaker.Options{}).Epoch(ctx, f.seed.SentryAppID)
	require.NoError(t, err)
	require.True(t, ok, "the epoch moved")
	require.Equal(t, models.StringList(f.events), f.appEvents(t), "the app's state is left alone")
	require.Empty(t, f.audit(t))
	require.Equal(t, 1, f.logs.FilterMessage("sentryapp.breaker_cleared").Len())
}

// TestDisableEnableOnSQLite runs a disable and a re-enable on the embedded
// database (no row locks there: SQLite serialises writers).
func TestDisableEnableOnSQLite(t *testing.T) {
	t.Parallel()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "hookworker.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"),
		&gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	require.NoError(t, models.Migrate(db))
	f := &lcFixture{redis: testenv.NewRedis(t), db: db, events: []string{"issue.created"}}
	f.seed, err = models.Seed(db, models.SeedOptions{WebhookURL: "https://hooks.example.com/in", Status: models.AppInternal, Events: f.events})
	require.NoError(t, err)
	f.mgr = lifecycle.NewManager(lifecycle.Deps{DB: db, Redis: f.redis.Client, Now: lcNow})
	f.disable(t)
	var pending int64
	require.NoError(t, db.Model(&models.EmailOutbox{}).Where("enqueued_at IS NULL").Count(&pending).Error)
	require.Zero(t, pending, "the owner's e-mail was enqueued")
	require.NoError(t, f.mgr.Enable(context.Background(), f.seed.SentryAppSlug, nil))
	require.Equal(t, models.StringList(f.events), f.appEvents(t))
	rows := f.audit(t)
	require.Len(t, rows, 2)
	require.Equal(t, models.AuditInternalIntegrationEnabled, rows[1].Event)
	require.ErrorIs(t, f.mgr.Enable(context.Background(), f.seed.SentryAppSlug, nil), lifecycle.ErrAlreadyEnabled)
}
