package ops_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/embedded"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/ops"
)

// TestConsoleEmbeddedMode runs the console's views on what a first run
// uses: the SQLite file and the embedded Redis (miniredis, which runs the
// counters' script too).
func TestConsoleEmbeddedMode(t *testing.T) {
	t.Parallel()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "hookworker.db")), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, models.Migrate(db))
	emb, err := embedded.StartRedis("127.0.0.1:0", 100*time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(emb.Close)
	rdb := redis.NewClient(&redis.Options{Addr: emb.Addr()})
	t.Cleanup(func() { rdb.Close() })

	res, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://receiver.example/", Name: "Local App", Status: models.AppInternal,
		Events: []string{"issue.created"}})
	require.NoError(t, err)
	require.NoError(t, db.Model(&models.SentryApp{}).Where("id = ?", res.SentryAppID).Update("events", models.StringList{}).Error)
	disabledAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, db.Create(&models.AuditLogEntry{OrganizationID: res.OrganizationID, ActorLabel: "Sentry",
		Event: models.AuditInternalIntegrationDisabled, Data: models.JSONObject{"name": "Local App"}, Datetime: disabledAt}).Error)
	require.NoError(t, rdb.HSet(t.Context(), breaker.Key(res.SentryAppID, res.OrganizationID, time.Now()), "error_count", 3).Err())

	c, err := ops.NewConsole(ops.ConsoleConfig{DB: db, Redis: rdb})
	require.NoError(t, err)
	page, err := c.Apps(t.Context(), 1, 0)
	require.NoError(t, err)
	require.Len(t, page.Apps, 1)
	a := page.Apps[0]
	require.False(t, a.Enabled)
	require.NotNil(t, a.DisabledSince)
	require.True(t, disabledAt.Equal(*a.DisabledSince), "%v", a.DisabledSince)
	require.Equal(t, int64(3), a.Days[6].Error)
	d, err := c.App(t.Context(), res.SentryAppSlug, ops.RequestQuery{})
	require.NoError(t, err)
	require.Len(t, d.History, 1)
	require.Len(t, d.Organizations, 1)
}
