package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/store"
)

// The embedded mode's SQLite database has neither DISTINCT ON nor arrays:
// the cache's batched misses still load every target there.
func TestCacheOnSQLite(t *testing.T) {
	t.Parallel()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "hookworker.db")), &gorm.Config{})
	require.NoError(t, err)
	sqlDB, err := db.DB()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })
	require.NoError(t, models.Migrate(db))
	a, err := models.Seed(db, models.SeedOptions{WebhookURL: "http://127.0.0.1:9/hook", Status: models.AppInternal})
	require.NoError(t, err)

	st := store.New(db)
	want, err := st.Target(context.Background(), a.InstallationID)
	require.NoError(t, err)
	got, err := st.Targets(context.Background(), []int64{a.InstallationID, a.InstallationID + 1000})
	require.NoError(t, err)
	require.Equal(t, map[int64]*store.Target{a.InstallationID: want}, got)

	c := store.NewCache(st, time.Minute, 0)
	target, err := c.Target(context.Background(), a.InstallationID)
	require.NoError(t, err)
	require.Equal(t, want, target)
	_, err = c.Target(context.Background(), a.InstallationID+1000)
	require.ErrorIs(t, err, store.ErrNotFound)
}
