package models_test

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
)

// databases returns an empty PostgreSQL schema and an empty SQLite file,
// the two databases hookworker runs on.
func databases(t *testing.T) map[string]*gorm.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookworker.db")
	lite, err := gorm.Open(sqlite.Open(path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"),
		&gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() {
		if db, err := lite.DB(); err == nil {
			db.Close()
		}
	})
	return map[string]*gorm.DB{"postgres": testenv.NewPostgres(t).DB, "sqlite": lite}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, models.Migrate(db))
			res, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://example.com/hook"})
			require.NoError(t, err)
			// Again, on a database with rows: nothing fails, nothing is lost.
			require.NoError(t, models.Migrate(db))
			require.NoError(t, models.Migrate(db))
			for _, m := range models.All() {
				require.True(t, db.Migrator().HasTable(m), "%T", m)
			}
			var app models.SentryApp
			require.NoError(t, db.First(&app, res.SentryAppID).Error)
			require.Equal(t, res.SentryAppSlug, app.Slug)

			// Columns other writers rely on have database defaults: the
			// platform can insert a row giving only the listed columns.
			require.NoError(t, db.Exec(`INSERT INTO sentry_apps (slug, owner_id) VALUES ('bare', 1)`).Error)
			var bare models.SentryApp
			require.NoError(t, db.Where("slug = ?", "bare").First(&bare).Error)
			require.Equal(t, models.StringList{}, bare.Events)
			require.Nil(t, bare.WebhookURL)
			require.False(t, bare.DateAdded.IsZero())
			require.NoError(t, db.Exec(`INSERT INTO audit_log_entries (organization_id, event) VALUES (1, 131)`).Error)
			var entry models.AuditLogEntry
			require.NoError(t, db.Where("event = ?", 131).First(&entry).Error)
			require.Equal(t, models.JSONObject{}, entry.Data)

			// Unique (service_hook_id, project_id).
			require.NoError(t, db.Create(&models.ServiceHookProject{ServiceHookID: 99, ProjectID: 1}).Error)
			require.Error(t, db.Create(&models.ServiceHookProject{ServiceHookID: 99, ProjectID: 1}).Error)
			// Unique slugs.
			require.Error(t, db.Create(&models.Organization{Slug: res.OrganizationSlug}).Error)
		})
	}
}

func TestJSONColumnsRoundTrip(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, models.Migrate(db))
			lists := []models.StringList{
				{"issue.created", "error.created"},
				{},
				{`quo"te`, "<&>", "naïve ✓", ""},
			}
			for i, l := range lists {
				app := models.SentryApp{Slug: "app-" + uuid.NewString(), Events: l, OwnerID: int64(i + 1)}
				require.NoError(t, db.Create(&app).Error)
				var got models.SentryApp
				require.NoError(t, db.First(&got, app.ID).Error)
				require.Equal(t, l, got.Events, "list %d", i)
			}
			// nil is stored as [] (the column is NOT NULL).
			app := models.SentryApp{Slug: "nil-" + uuid.NewString(), OwnerID: 1}
			require.NoError(t, db.Create(&app).Error)
			var got models.SentryApp
			require.NoError(t, db.First(&got, app.ID).Error)
			require.Equal(t, models.StringList{}, got.Events)

			objects := []models.JSONObject{
				{"name": "My <App> & Co"},
				{"n": float64(3), "nested": map[string]any{"a": []any{"x", true, nil}}},
				{},
			}
			for i, o := range objects {
				e := models.AuditLogEntry{OrganizationID: 1, ActorLabel: "Sentry", TargetObject: 1, Event: 131,
					Data: o, Datetime: time.Now().UTC()}
				require.NoError(t, db.Create(&e).Error)
				var got models.AuditLogEntry
				require.NoError(t, db.First(&got, e.ID).Error)
				require.Equal(t, o, got.Data, "object %d", i)
			}
		})
	}
}

func TestStringListScan(t *testing.T) {
	t.Parallel()
	var l models.StringList
	require.NoError(t, l.Scan([]byte(`["a","b"]`)))
	require.Equal(t, models.StringList{"a", "b"}, l)
	require.NoError(t, l.Scan(`["c"]`))
	require.Equal(t, models.StringList{"c"}, l)
	require.NoError(t, l.Scan(nil))
	require.Nil(t, l)
	require.Error(t, l.Scan(42))
	require.Error(t, l.Scan(`{"a":1}`))
	require.True(t, models.StringList{"a", "b"}.Contains("b"))
	require.False(t, models.StringList{"a", "b"}.Contains("c"))
	require.False(t, models.StringList(nil).Contains(""))

	v, err := models.StringList(nil).Value()
	require.NoError(t, err)
	require.Equal(t, "[]", v)
	v, err = models.StringList{"<&>"}.Value()
	require.NoError(t, err)
	require.JSONEq(t, `["<&>"]`, v.(string))

	var o models.JSONObject
	require.NoError(t, o.Scan([]byte(`{"a":1}`)))
	require.Equal(t, models.JSONObject{"a": float64(1)}, o)
	require.NoError(t, o.Scan(`{}`))
	require.Equal(t, models.JSONObject{}, o)
	require.Error(t, o.Scan(`[1]`))
	require.Error(t, o.Scan(1.5))
	v, err = models.JSONObject(nil).Value()
	require.NoError(t, err)
	require.Equal(t, "{}", v)
}

func TestSeed(t *testing.T) {
	t.Parallel()
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, models.Migrate(db))

			_, err := models.Seed(db, models.SeedOptions{})
			require.ErrorContains(t, err, "webhook URL is required")

			res, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://example.com/hook", Name: "My App 2!",
				Status: models.AppPublished, Events: []string{"issue.created"}, OwnerEmail: "boss@example.com",
				ProjectIDs: []int64{5, 3}})
			require.NoError(t, err)
			require.Regexp(t, regexp.MustCompile(`^my-app-2-[0-9a-f]{8}$`), res.SentryAppSlug)
			require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), res.ClientSecret)
			require.Regexp(t, regexp.MustCompile(`^org-[0-9a-f]{8}$`), res.OrganizationSlug)
			_, err = uuid.Parse(res.SentryAppUUID)
			require.NoError(t, err)
			_, err = uuid.Parse(res.InstallationUUID)
			require.NoError(t, err)

			var org models.Organization
			require.NoError(t, db.First(&org, res.OrganizationID).Error)
			require.Equal(t, res.OrganizationSlug, org.Slug)

			var app models.SentryApp
			require.NoError(t, db.First(&app, res.SentryAppID).Error)
			require.Equal(t, "My App 2!", app.Name)
			require.Equal(t, res.SentryAppUUID, app.UUID)
			require.Equal(t, models.AppPublished, app.Status)
			require.Equal(t, "https://example.com/hook", *app.WebhookURL)
			require.Equal(t, models.StringList{"issue.created"}, app.Events)
			require.Equal(t, res.ClientSecret, app.ClientSecret)
			require.Equal(t, res.OrganizationID, app.OwnerID)
			require.Nil(t, app.DateDeleted)

			var inst models.SentryAppInstallation
			require.NoError(t, db.First(&inst, res.InstallationID).Error)
			require.Equal(t, res.InstallationUUID, inst.UUID)
			require.Equal(t, res.SentryAppID, inst.SentryAppID)
			require.Equal(t, res.OrganizationID, inst.OrganizationID)
			require.Equal(t, models.InstallationInstalled, inst.Status)

			var hook models.ServiceHook
			require.NoError(t, db.First(&hook, res.ServiceHookID).Error)
			require.Equal(t, res.InstallationID, hook.ActorID)
			require.Equal(t, res.InstallationID, *hook.InstallationID)
			require.Equal(t, res.OrganizationID, hook.OrganizationID)
			require.Equal(t, "https://example.com/hook", hook.URL)
			require.Equal(t, models.StringList{"issue.created"}, hook.Events)

			var projects []int64
			require.NoError(t, db.Model(&models.ServiceHookProject{}).Where("service_hook_id = ?", hook.ID).
				Order("project_id").Pluck("project_id", &projects).Error)
			require.Equal(t, []int64{3, 5}, projects)

			var members []models.OrganizationMember
			require.NoError(t, db.Where("organization_id = ?", res.OrganizationID).Find(&members).Error)
			require.Len(t, members, 1)
			require.Equal(t, "owner", members[0].Role)
			var user models.User
			require.NoError(t, db.First(&user, *members[0].UserID).Error)
			require.Equal(t, "boss@example.com", user.Email)
			require.True(t, user.IsActive)

			// Defaults: the name; Status is taken as given (its zero value is
			// AppUnpublished, so callers wanting internal say so, as the
			// seed command does); every seed is its own world.
			res2, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://example.com/other", Events: event.Valid()})
			require.NoError(t, err)
			require.NotEqual(t, res.OrganizationID, res2.OrganizationID)
			require.NotEqual(t, res.ClientSecret, res2.ClientSecret)
			require.Regexp(t, `^hookworker-test-app-[0-9a-f]{8}$`, res2.SentryAppSlug)
			var app2 models.SentryApp
			require.NoError(t, db.First(&app2, res2.SentryAppID).Error)
			require.Equal(t, models.AppUnpublished, app2.Status)
			require.Equal(t, models.StringList(event.Valid()), app2.Events)
		})
	}
}
