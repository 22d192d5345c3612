package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/store"
)

// ErrNoEvents is returned by Enable when no events were given and there are
// none to restore: the app was not disabled by the breaker (no events were
// recorded) and its service hooks name none either.
var ErrNoEvents = errors.New("no events to restore: pass the events to subscribe the app to")

// ErrInvalidEvent is returned by Enable for an event name hookworker does
// not know; the error names it.
var ErrInvalidEvent = errors.New("invalid event")

// AuditActorLabel is the actor_label of the audit entries an operator's
// action writes: the operator server and the command line know no user.
const AuditActorLabel = "hookworker operator"

// Deps are a Manager's collaborators, passed in so that the operator server
// and the command line share one implementation.
type Deps struct {
	// DB holds the apps, the audit log and hookworker's own tables.
	DB *gorm.DB
	// Redis holds the breaker's counters and epochs.
	Redis redis.Cmdable
	Log   *zap.Logger
	// Now is the clock of audit entries and breaker epochs; nil means
	// time.Now. The breaker's days are taken from it too.
	Now func() time.Time
	// Invalidate tells every worker's target cache to forget appID. Nil
	// publishes on store.InvalidateChannel through Redis, which every
	// worker with a cache (this process's included) listens to.
	Invalidate func(ctx context.Context, appID int64) error
}

// Manager re-enables disabled apps and clears breaker counters on an
// operator's request. It holds no mutable state: safe for concurrent use,
// and safe to run in several processes at once (the database decides).
type Manager struct {
	db         *gorm.DB
	breaker    *breaker.Breaker
	log        *zap.Logger
	now        func() time.Time
	invalidate func(ctx context.Context, appID int64) error
}

// NewManager returns a Manager on d.
func NewManager(d Deps) *Manager {
	m := &Manager{db: d.DB, log: d.Log, now: d.Now, invalidate: d.Invalidate}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.invalidate == nil {
		rdb := d.Redis
		m.invalidate = func(ctx context.Context, appID int64) error { return store.PublishInvalidation(ctx, rdb, appID) }
	}
	m.breaker = breaker.New(d.Redis, breaker.Options{Now: m.now})
	return m
}

// Enable turns a disabled app back on. events nil or empty restores the
// events the app had when the breaker disabled it (recorded at the
// disable; for an app disabled otherwise, the events of its service
// hooks); otherwise the app gets exactly events. In order: the breaker of
// every organization the app is or was installed in is reset (30 daily
// keys deleted, their fences and the epoch moved to now, so deliveries in flight from
// before cannot count); one transaction sets the events, writes the audit
// entry (event AuditInternalIntegrationEnabled) and closes the disable's
// record; every worker's cache forgets the app; `sentryapp.enabled` is
// logged. ErrNotFound for an unknown (or deleted) slug, ErrAlreadyEnabled
// for an app whose events are not empty, ErrInvalidEvent, ErrNoEvents.
func (m *Manager) Enable(ctx context.Context, slug string, events []string) error {
	app, err := m.app(ctx, slug)
	if err != nil {
		return err
	}
	if len(app.Events) > 0 {
		return ErrAlreadyEnabled
	}
	events, err = cleanEvents(events)
	if err != nil {
		return err
	}
	// The reset comes first: if the process dies before the commit, the
	// app is still disabled and the operator enables it again; the other
	// way round it could be enabled with its old counters.
	orgs, err := m.resetBreaker(ctx, app.ID)
	if err != nil {
		return err
	}
	now := m.now().UTC()
	var res enabled
	err = m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		res, err = enableTx(ctx, tx, app, events, now)
		return err
	})
	if err != nil {
		return err
	}
	log := m.log.With(zap.String("sentryapp_slug", app.Slug), zap.String("sentryapp_uuid", app.UUID),
		zap.Int64("sentryapp_id", app.ID), zap.Int64("org_id", res.orgID))
	if err := m.invalidate(ctx, app.ID); err != nil {
		// Enabled all the same; caches catch up within CACHE_TTL.
		log.Error("cache.invalidation_not_published", zap.Error(err))
	}
	log.Info("sentryapp.enabled", zap.Strings("events", res.events), zap.Int64("audit_log_entry_id", res.auditID),
		zap.Int("breaker_orgs_cleared", len(orgs)))
	return nil
}

// enabled is what the enable's transaction did.
type enabled struct {
	events  models.StringList
	auditID int64
	orgID   int64
}

// enableTx sets the app's events (events, or the ones to restore) if they
// are still empty, writes the audit entry and closes the open disable
// records, under the app's row lock on PostgreSQL.
func enableTx(ctx context.Context, tx *gorm.DB, app models.SentryApp, events []string, now time.Time) (enabled, error) {
	var cur models.SentryApp
	q := tx.Select("id", "events").Where("id = ?", app.ID)
	if tx.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Take(&cur).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return enabled{}, ErrNotFound
		}
		return enabled{}, fmt.Errorf("enable app %s: %w", app.Slug, err)
	}
	if len(cur.Events) > 0 {
		return enabled{}, ErrAlreadyEnabled
	}
	var rec models.AppDisable
	err := tx.Where("sentry_app_id = ? AND enabled_at IS NULL", app.ID).Order("id DESC").Take(&rec).Error
	found := err == nil
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return enabled{}, fmt.Errorf("load the disable of app %s: %w", app.Slug, err)
	}
	res := enabled{events: events, orgID: app.OwnerID}
	if found {
		res.orgID = rec.OrganizationID
	}
	if len(res.events) == 0 && found {
		res.events = rec.Events
	}
	if len(res.events) == 0 {
		if res.events, err = hookEvents(ctx, tx, app.ID); err != nil {
			return enabled{}, err
		}
	}
	if len(res.events) == 0 {
		return enabled{}, ErrNoEvents
	}
	upd := tx.Model(&models.SentryApp{}).Where("id = ? AND events = ?", app.ID, models.StringList{}).
		UpdateColumns(map[string]any{"events": res.events, "date_updated": now})
	if upd.Error != nil {
		return enabled{}, fmt.Errorf("enable app %s: %w", app.Slug, upd.Error)
	}
	if upd.RowsAffected != 1 {
		return enabled{}, ErrAlreadyEnabled
	}
	audit := models.AuditLogEntry{
		OrganizationID: res.orgID, ActorLabel: AuditActorLabel, TargetObject: res.orgID,
		Event: models.AuditInternalIntegrationEnabled,
		Data:  models.JSONObject{"name": app.Name, "events": []string(res.events)}, Datetime: now,
	}
	if err := tx.Create(&audit).Error; err != nil {
		return enabled{}, fmt.Errorf("write audit entry for organization %d: %w", res.orgID, err)
	}
	res.auditID = audit.ID
	err = tx.Model(&models.AppDisable{}).Where("sentry_app_id = ? AND enabled_at IS NULL", app.ID).
		UpdateColumns(map[string]any{"enabled_at": now, "enable_audit_log_entry_id": audit.ID}).Error
	if err != nil {
		return enabled{}, fmt.Errorf("close the disable of app %s: %w", app.Slug, err)
	}
	return res, nil
}

// ClearBreaker deletes the breaker counters of every organization the app
// is or was installed in (30 daily keys each) and moves their fences and
// the app's epoch to now, so that deliveries in flight cannot bring them back; the app's
// state is left alone. It logs `sentryapp.breaker_cleared`. ErrNotFound
// for an unknown (or deleted) slug.
func (m *Manager) ClearBreaker(ctx context.Context, slug string) error {
	app, err := m.app(ctx, slug)
	if err != nil {
		return err
	}
	orgs, err := m.resetBreaker(ctx, app.ID)
	if err != nil {
		return err
	}
	m.log.Info("sentryapp.breaker_cleared", zap.String("sentryapp_slug", app.Slug), zap.Int64("sentryapp_id", app.ID),
		zap.Int("breaker_orgs_cleared", len(orgs)))
	return nil
}

// app loads the app named slug, unless deleted.
func (m *Manager) app(ctx context.Context, slug string) (models.SentryApp, error) {
	var app models.SentryApp
	err := m.db.WithContext(ctx).Where("slug = ? AND date_deleted IS NULL", slug).Take(&app).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.SentryApp{}, ErrNotFound
	}
	if err != nil {
		return models.SentryApp{}, fmt.Errorf("load app %q: %w", slug, err)
	}
	return app, nil
}

// organizations lists every organization that may hold breaker counters of
// appID: those it is or was installed in (deleted and pending
// installations too), and those of its disables.
func (m *Manager) organizations(ctx context.Context, appID int64) ([]int64, error) {
	var installed, disabled []int64
	db := m.db.WithContext(ctx)
	if err := db.Model(&models.SentryAppInstallation{}).Where("sentry_app_id = ?", appID).
		Distinct().Pluck("organization_id", &installed).Error; err != nil {
		return nil, fmt.Errorf("list organizations of app %d: %w", appID, err)
	}
	if err := db.Model(&models.AppDisable{}).Where("sentry_app_id = ?", appID).
		Distinct().Pluck("organization_id", &disabled).Error; err != nil {
		return nil, fmt.Errorf("list organizations of app %d: %w", appID, err)
	}
	orgs := append(installed, disabled...)
	slices.Sort(orgs)
	return slices.Compact(orgs), nil
}

// hookEvents returns the events of the app's service hooks, each once, in
// the order first seen: what an app disabled without a record (by hand,
// or before hookworker recorded events) was subscribed to.
func hookEvents(ctx context.Context, tx *gorm.DB, appID int64) (models.StringList, error) {
	var lists []models.StringList
	err := tx.WithContext(ctx).Raw(`
SELECT h.events FROM service_hooks h
JOIN sentry_app_installations i ON h.actor_id = i.id AND h.organization_id = i.organization_id
WHERE i.sentry_app_id = ? AND i.date_deleted IS NULL
ORDER BY h.id`, appID).Scan(&lists).Error
	if err != nil {
		return nil, fmt.Errorf("load service hook events of app %d: %w", appID, err)
	}
	var out models.StringList
	for _, l := range lists {
		for _, e := range l {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// cleanEvents checks every name and drops duplicates, keeping the order.
func cleanEvents(events []string) ([]string, error) {
	var out []string
	for _, e := range events {
		if _, _, err := event.Parse(e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// resetBreaker clears the breaker of every organization app is or was
// installed in and moves its fences and epoch, returning those organizations.
func (m *Manager) resetBreaker(ctx context.Context, app int64) ([]int64, error) {
	orgs, err := m.organizations(ctx, app)
	if err != nil {
		return nil, err
	}
	if err := m.breaker.Reset(ctx, app, orgs); err != nil {
		return nil, err
	}
	return orgs, nil
}
