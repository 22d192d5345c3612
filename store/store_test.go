package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/store"
)

// targetBundle is a migrated schema with one seeded installation.
type targetBundle struct {
	db    *gorm.DB
	store *store.Store
	seed  models.SeedResult
}

func setupTarget(t *testing.T) *targetBundle {
	t.Helper()
	db := testenv.NewPostgres(t).DB
	require.NoError(t, models.Migrate(db))
	seed, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://example.com/hook?a=1&b=<2>",
		Name: "Target App", Status: models.AppInternal, Events: []string{"issue.created", "error.created"}})
	require.NoError(t, err)
	return &targetBundle{db: db, store: store.New(db), seed: seed}
}

func (b *targetBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	require.NoError(t, b.db.Exec(sql, args...).Error)
}

func TestTargetFound(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	got, err := b.store.Target(context.Background(), b.seed.InstallationID)
	require.NoError(t, err)
	require.Equal(t, &store.Target{
		InstallationID:   b.seed.InstallationID,
		InstallationUUID: b.seed.InstallationUUID,
		OrganizationID:   b.seed.OrganizationID,
		AppID:            b.seed.SentryAppID,
		AppUUID:          b.seed.SentryAppUUID,
		AppSlug:          b.seed.SentryAppSlug,
		AppName:          "Target App",
		AppStatus:        models.AppInternal,
		WebhookURL:       "https://example.com/hook?a=1&b=<2>",
		AppEvents:        models.StringList{"issue.created", "error.created"},
		ClientSecret:     b.seed.ClientSecret,
		HookID:           b.seed.ServiceHookID,
		HookEvents:       models.StringList{"issue.created", "error.created"},
	}, got)
	require.Empty(t, got.ProjectIDs, "no rows, no limit")
}

func TestTargetNotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakIt func(t *testing.T, b *targetBundle)
	}{
		{"pending installation", func(t *testing.T, b *targetBundle) {
			b.exec(t, `UPDATE sentry_app_installations SET status = 0 WHERE id = ?`, b.seed.InstallationID)
		}},
		{"soft-deleted installation", func(t *testing.T, b *targetBundle) {
			b.exec(t, `UPDATE sentry_app_installations SET date_deleted = ? WHERE id = ?`, time.Now(), b.seed.InstallationID)
		}},
		{"soft-deleted app", func(t *testing.T, b *targetBundle) {
			b.exec(t, `UPDATE sentry_apps SET date_deleted = ? WHERE id = ?`, time.Now(), b.seed.SentryAppID)
		}},
		{"app row gone", func(t *testing.T, b *targetBundle) {
			b.exec(t, `DELETE FROM sentry_apps WHERE id = ?`, b.seed.SentryAppID)
		}},
		{"installation row gone", func(t *testing.T, b *targetBundle) {
			b.exec(t, `DELETE FROM sentry_app_installations WHERE id = ?`, b.seed.InstallationID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupTarget(t)
			_, err := b.store.Target(context.Background(), b.seed.InstallationID)
			require.NoError(t, err, "found before")
			tt.breakIt(t, b)
			got, err := b.store.Target(context.Background(), b.seed.InstallationID)
			require.ErrorIs(t, err, store.ErrNotFound)
			require.Nil(t, got)
		})
	}

	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		b := setupTarget(t)
		for _, id := range []int64{b.seed.InstallationID + 1000, 0, -1} {
			_, err := b.store.Target(context.Background(), id)
			require.ErrorIs(t, err, store.ErrNotFound, "id %d", id)
		}
	})
}

func TestTargetHooks(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	ctx := context.Background()

	// No service hook: found, HookID 0.
	b.exec(t, `DELETE FROM service_hooks WHERE id = ?`, b.seed.ServiceHookID)
	got, err := b.store.Target(ctx, b.seed.InstallationID)
	require.NoError(t, err)
	require.Zero(t, got.HookID)
	require.Empty(t, got.HookEvents)

	// A hook of another organization with the same actor does not count.
	other := models.ServiceHook{GUID: uuid.NewString(), ActorID: b.seed.InstallationID, OrganizationID: b.seed.OrganizationID + 999,
		Events: models.StringList{"issue.created"}}
	require.NoError(t, b.db.Create(&other).Error)
	got, err = b.store.Target(ctx, b.seed.InstallationID)
	require.NoError(t, err)
	require.Zero(t, got.HookID)

	// Several hooks: the lowest id wins, with its own events and projects.
	var hooks []models.ServiceHook
	for i, ev := range []models.StringList{{"comment.created"}, {"issue.resolved"}, {"error.created"}} {
		h := models.ServiceHook{GUID: uuid.NewString(), ActorID: b.seed.InstallationID, OrganizationID: b.seed.OrganizationID,
			Events: ev, URL: "https://hook.example/" + string(rune('a'+i))}
		require.NoError(t, b.db.Create(&h).Error)
		hooks = append(hooks, h)
	}
	for _, p := range []int64{30, 10, 20} {
		require.NoError(t, b.db.Create(&models.ServiceHookProject{ServiceHookID: hooks[0].ID, ProjectID: p}).Error)
	}
	require.NoError(t, b.db.Create(&models.ServiceHookProject{ServiceHookID: hooks[1].ID, ProjectID: 99}).Error)
	got, err = b.store.Target(ctx, b.seed.InstallationID)
	require.NoError(t, err)
	require.Equal(t, hooks[0].ID, got.HookID)
	require.Equal(t, models.StringList{"comment.created"}, got.HookEvents)
	require.Equal(t, []int64{10, 20, 30}, got.ProjectIDs, "the hook's projects, sorted")
	require.Equal(t, "https://example.com/hook?a=1&b=<2>", got.WebhookURL, "the app's URL, not the hook's")

	// Delete the lowest: the next one is used, with no limits of its own.
	b.exec(t, `DELETE FROM service_hooks WHERE id = ?`, hooks[0].ID)
	got, err = b.store.Target(ctx, b.seed.InstallationID)
	require.NoError(t, err)
	require.Equal(t, hooks[1].ID, got.HookID)
	require.Equal(t, []int64{99}, got.ProjectIDs)
}

func TestTargetAppFields(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	ctx := context.Background()

	// Disabled app (empty events), no webhook URL, published.
	b.exec(t, `UPDATE sentry_apps SET events = '[]', webhook_url = NULL, status = ? WHERE id = ?`, models.AppPublished, b.seed.SentryAppID)
	got, err := b.store.Target(ctx, b.seed.InstallationID)
	require.NoError(t, err)
	require.Empty(t, got.AppEvents)
	require.NotNil(t, got.AppEvents, "an empty list, not a missing one")
	require.Equal(t, "", got.WebhookURL)
	require.Equal(t, models.AppPublished, got.AppStatus)
	require.Equal(t, models.StringList{"issue.created", "error.created"}, got.HookEvents)
}

func TestTargetDatabaseError(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.store.Target(ctx, b.seed.InstallationID)
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrNotFound, "a database failure is retried, not a finish")
}

func TestOrganizationSlug(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	slug, err := b.store.OrganizationSlug(context.Background(), b.seed.OrganizationID)
	require.NoError(t, err)
	require.Equal(t, b.seed.OrganizationSlug, slug)
	_, err = b.store.OrganizationSlug(context.Background(), b.seed.OrganizationID+1000)
	require.Error(t, err)
}

// TestTargetsMatchesTarget checks that Targets returns for every id exactly
// what Target returns, over the shapes an installation can take, in one
// call.
func TestTargetsMatchesTarget(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	ctx := context.Background()
	seed := func(o models.SeedOptions) models.SeedResult {
		t.Helper()
		if o.WebhookURL == "" {
			o.WebhookURL = "https://example.com/" + uuid.NewString()
		}
		o.Events = []string{"issue.created"}
		s, err := models.Seed(b.db, o)
		require.NoError(t, err)
		return s
	}
	shapes := []struct {
		name  string
		found bool
		make  func() int64
	}{
		{"hook without project limits", true, func() int64 { return b.seed.InstallationID }},
		{"hook with project limits", true, func() int64 {
			return seed(models.SeedOptions{ProjectIDs: []int64{30, 10, 20}}).InstallationID
		}},
		{"no hook", true, func() int64 {
			s := seed(models.SeedOptions{})
			b.exec(t, `DELETE FROM service_hooks WHERE id = ?`, s.ServiceHookID)
			return s.InstallationID
		}},
		{"several hooks, the lowest with limits", true, func() int64 {
			s := seed(models.SeedOptions{ProjectIDs: []int64{7, 5}})
			later := models.ServiceHook{GUID: uuid.NewString(), ActorID: s.InstallationID, OrganizationID: s.OrganizationID,
				Events: models.StringList{"comment.created"}}
			require.NoError(t, b.db.Create(&later).Error)
			require.NoError(t, b.db.Create(&models.ServiceHookProject{ServiceHookID: later.ID, ProjectID: 99}).Error)
			return s.InstallationID
		}},
		{"several hooks, the lowest without limits", true, func() int64 {
			s := seed(models.SeedOptions{})
			later := models.ServiceHook{GUID: uuid.NewString(), ActorID: s.InstallationID, OrganizationID: s.OrganizationID,
				Events: models.StringList{"comment.created"}}
			require.NoError(t, b.db.Create(&later).Error)
			require.NoError(t, b.db.Create(&models.ServiceHookProject{ServiceHookID: later.ID, ProjectID: 98}).Error)
			return s.InstallationID
		}},
		{"webhook_url NULL, no events", true, func() int64 {
			s := seed(models.SeedOptions{})
			b.exec(t, `UPDATE sentry_apps SET webhook_url = NULL, events = '[]' WHERE id = ?`, s.SentryAppID)
			return s.InstallationID
		}},
		{"app soft-deleted", false, func() int64 {
			s := seed(models.SeedOptions{})
			b.exec(t, `UPDATE sentry_apps SET date_deleted = ? WHERE id = ?`, time.Now(), s.SentryAppID)
			return s.InstallationID
		}},
		{"installation pending", false, func() int64 {
			s := seed(models.SeedOptions{})
			b.exec(t, `UPDATE sentry_app_installations SET status = 0 WHERE id = ?`, s.InstallationID)
			return s.InstallationID
		}},
		{"installation soft-deleted", false, func() int64 {
			s := seed(models.SeedOptions{})
			b.exec(t, `UPDATE sentry_app_installations SET date_deleted = ? WHERE id = ?`, time.Now(), s.InstallationID)
			return s.InstallationID
		}},
		{"missing id", false, func() int64 { return b.seed.InstallationID + 100000 }},
	}
	ids := make([]int64, len(shapes))
	for i, s := range shapes {
		ids[i] = s.make()
	}
	// A duplicate id is answered once.
	got, err := b.store.Targets(ctx, append(ids, ids[0]))
	require.NoError(t, err)
	for i, s := range shapes {
		want, err := b.store.Target(ctx, ids[i])
		if !s.found {
			require.ErrorIs(t, err, store.ErrNotFound, s.name)
			require.NotContains(t, got, ids[i], s.name)
			continue
		}
		require.NoError(t, err, s.name)
		require.Equal(t, want, got[ids[i]], s.name)
	}
	require.Len(t, got, 6, "one entry per usable installation")
	require.Equal(t, []int64{10, 20, 30}, got[ids[1]].ProjectIDs, "the limits, sorted")
	require.Zero(t, got[ids[2]].HookID, "no hook")
	require.Equal(t, []int64{5, 7}, got[ids[3]].ProjectIDs, "the lowest hook's limits only")
	require.Empty(t, got[ids[4]].ProjectIDs, "the lowest hook has no limits")
	require.Equal(t, "", got[ids[5]].WebhookURL)

	empty, err := b.store.Targets(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestTargetsDatabaseError(t *testing.T) {
	t.Parallel()
	b := setupTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := b.store.Targets(ctx, []int64{b.seed.InstallationID})
	require.Error(t, err)
	require.Nil(t, got)
}
