package ops_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/requestlog"
)

// auditTestEnabled is the audit event pgIntegrations writes on enable.
const auditTestEnabled = 9131

// pgIntegrations is a small real ops.Integrations for the tests: it flips
// the app's row in PostgreSQL and deletes breaker keys in Redis. The real
// one is package lifecycle's.
type pgIntegrations struct {
	db  *gorm.DB
	rdb redis.Cmdable
	now func() time.Time

	mu       sync.Mutex
	recorded map[string][]string // events at disable, by slug
	calls    []string
}

func (p *pgIntegrations) Enable(ctx context.Context, slug string, events []string) error {
	var apps []models.SentryApp
	if err := p.db.WithContext(ctx).Where("slug = ? AND date_deleted IS NULL", slug).Limit(1).Find(&apps).Error; err != nil {
		return err
	}
	if len(apps) == 0 {
		return fmt.Errorf("enable %s: %w", slug, lifecycle.ErrNotFound)
	}
	p.mu.Lock()
	p.calls = append(p.calls, "enable "+slug)
	if events == nil {
		events = p.recorded[slug]
	}
	p.mu.Unlock()
	res := p.db.WithContext(ctx).Model(&models.SentryApp{}).Where("id = ? AND events = '[]'", apps[0].ID).
		Update("events", models.StringList(events))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("enable %s: %w", slug, lifecycle.ErrAlreadyEnabled)
	}
	return p.db.WithContext(ctx).Create(&models.AuditLogEntry{OrganizationID: apps[0].OwnerID, ActorLabel: "ops test",
		TargetObject: apps[0].OwnerID, Event: auditTestEnabled, Data: models.JSONObject{"name": apps[0].Name, "slug": slug},
		Datetime: p.now()}).Error
}

func (p *pgIntegrations) ClearBreaker(ctx context.Context, slug string) error {
	var apps []models.SentryApp
	if err := p.db.WithContext(ctx).Where("slug = ? AND date_deleted IS NULL", slug).Limit(1).Find(&apps).Error; err != nil {
		return err
	}
	if len(apps) == 0 {
		return fmt.Errorf("clear %s: %w", slug, lifecycle.ErrNotFound)
	}
	var orgs []int64
	if err := p.db.WithContext(ctx).Model(&models.SentryAppInstallation{}).Where("sentry_app_id = ?", apps[0].ID).
		Pluck("organization_id", &orgs).Error; err != nil {
		return err
	}
	p.mu.Lock()
	p.calls = append(p.calls, "clear "+slug)
	p.mu.Unlock()
	for _, org := range orgs {
		var keys []string
		for i := range 30 {
			keys = append(keys, breaker.Key(apps[0].ID, org, p.now().AddDate(0, 0, -i)))
		}
		if err := p.rdb.Del(ctx, keys...).Err(); err != nil {
			return err
		}
	}
	return nil
}

var _ ops.Integrations = (*pgIntegrations)(nil)

// consoleBundle is one test's console: its database, Redis, clock, actions
// and a running operator server.
type consoleBundle struct {
	pg      *testenv.Postgres
	rdb     *testenv.Redis
	now     time.Time
	integ   *pgIntegrations
	console *ops.Console
	logw    *requestlog.Writer
	base    string
}

// setupConsole starts an operator server with the console; edit may
// change its options (ReadOnly, BasicAuth).
func setupConsole(t *testing.T, edit func(*ops.Options)) *consoleBundle {
	t.Helper()
	b := &consoleBundle{pg: testenv.NewPostgres(t), rdb: testenv.NewRedis(t), now: time.Now().UTC()}
	require.NoError(t, models.Migrate(b.pg.DB))
	clock := func() time.Time { return b.now }
	b.integ = &pgIntegrations{db: b.pg.DB, rdb: b.rdb.Client, now: clock, recorded: map[string][]string{}}
	var err error
	b.console, err = ops.NewConsole(ops.ConsoleConfig{DB: b.pg.DB, Redis: b.rdb.Client, Integrations: b.integ,
		TimeoutThreshold: 5, BaseURL: "https://sentry.example.com", Now: clock})
	require.NoError(t, err)
	b.logw = requestlog.NewWriter(b.rdb.Client)
	t.Cleanup(b.logw.Close)
	o := ops.Options{Redis: b.rdb.Client, RedisURL: b.rdb.URL, PingDB: ops.PingGorm(b.pg.DB),
		Gatherer: metrics.New().Registry, Console: b.console}
	if edit != nil {
		edit(&o)
	}
	b.base = startServer(t, o)
	return b
}

// seededApp is an app the test made.
type seededApp struct {
	ID, OwnerID int64
	Slug, Name  string
	OwnerSlug   string
	Orgs        []models.Organization // every organization that has it installed, owner first
}

// seedApp creates an app with status, installed in its owner's
// organization and in extra more.
func (b *consoleBundle) seedApp(t *testing.T, name string, status int, extra int) seededApp {
	t.Helper()
	res, err := models.Seed(b.pg.DB, models.SeedOptions{WebhookURL: "https://receiver.example/hook?x=<1>", Name: name, Status: status,
		Events: []string{"issue.created", "error.created"}})
	require.NoError(t, err)
	a := seededApp{ID: res.SentryAppID, OwnerID: res.OrganizationID, Slug: res.SentryAppSlug, Name: name, OwnerSlug: res.OrganizationSlug}
	var owner models.Organization
	require.NoError(t, b.pg.DB.First(&owner, res.OrganizationID).Error)
	a.Orgs = append(a.Orgs, owner)
	for i := range extra {
		org := models.Organization{Slug: fmt.Sprintf("%s-client-%d", a.Slug, i), Name: fmt.Sprintf("Client %d of %s", i, name)}
		require.NoError(t, b.pg.DB.Create(&org).Error)
		require.NoError(t, b.pg.DB.Create(&models.SentryAppInstallation{UUID: org.Slug, SentryAppID: a.ID,
			OrganizationID: org.ID, Status: models.InstallationInstalled}).Error)
		a.Orgs = append(a.Orgs, org)
	}
	return a
}

// disable does what the breaker's disable does to the rows: empty events
// and an audit entry 131 naming the app, at `at`.
func (b *consoleBundle) disable(t *testing.T, a seededApp, at time.Time) {
	t.Helper()
	require.NoError(t, b.pg.DB.Model(&models.SentryApp{}).Where("id = ?", a.ID).Update("events", models.StringList{}).Error)
	require.NoError(t, b.pg.DB.Create(&models.AuditLogEntry{OrganizationID: a.OwnerID, ActorLabel: "Sentry", TargetObject: a.OwnerID,
		Event: models.AuditInternalIntegrationDisabled, Data: models.JSONObject{"name": a.Name}, Datetime: at}).Error)
	b.integ.mu.Lock()
	b.integ.recorded[a.Slug] = []string{"issue.created", "error.created"}
	b.integ.mu.Unlock()
}

// count adds n to one breaker counter of app/org, daysAgo UTC days back.
func (b *consoleBundle) count(t *testing.T, appID, orgID int64, daysAgo int, field string, n int64) {
	t.Helper()
	key := breaker.Key(appID, orgID, b.now.AddDate(0, 0, -daysAgo))
	require.NoError(t, b.rdb.Client.HIncrBy(t.Context(), key, field, n).Err())
}

// logRequest writes one attempt to the request log through the worker's
// own writer.
func (b *consoleBundle) logRequest(t *testing.T, appID int64, event string, a requestlog.Attempt) {
	t.Helper()
	if a.RequestHeader == nil {
		a.RequestHeader = http.Header{"Content-Type": {"application/json"}, "Sentry-Hook-Resource": {"issue"}}
	}
	if a.ResponseHeader == nil {
		a.ResponseHeader = http.Header{}
	}
	if a.WebhookURL == "" {
		a.WebhookURL = "https://receiver.example/hook?x=<1>"
	}
	require.NoError(t, b.logw.Write(t.Context(), appID, event, requestlog.NewEntry(a), nil))
}

// appEvents reads an app's events from its row.
func (b *consoleBundle) appEvents(t *testing.T, appID int64) []string {
	t.Helper()
	var app models.SentryApp
	require.NoError(t, b.pg.DB.First(&app, appID).Error)
	return app.Events
}

// breakerKey is breaker.Key, named for the tests' readability.
func breakerKey(appID, orgID int64, day time.Time) string { return breaker.Key(appID, orgID, day) }
