package lifecycle_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/models"
)

// TestEnableAndClearOnCluster runs ClearBreaker and Enable with the breaker
// on a 3-master cluster: the counters of both organizations are deleted and
// fenced on the nodes that hold them, whatever their slots.
func TestEnableAndClearOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	rdb := c.ClusterClient(t)
	db := testenv.NewPostgres(t).DB
	require.NoError(t, models.Migrate(db))
	events := []string{"issue.created"}
	seed, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://hooks.example.com/in", Status: models.AppInternal, Events: events})
	require.NoError(t, err)
	other, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://other.example.com", Status: models.AppInternal})
	require.NoError(t, err)
	require.NoError(t, db.Create(&models.SentryAppInstallation{SentryAppID: seed.SentryAppID,
		OrganizationID: other.OrganizationID, Status: models.InstallationInstalled}).Error)
	mgr := lifecycle.NewManager(lifecycle.Deps{DB: db, Redis: rdb, Log: zap.NewNop(), Now: lcNow})
	ctx := context.Background()
	orgs := []int64{seed.OrganizationID, other.OrganizationID}

	count := func() {
		t.Helper()
		for _, org := range orgs {
			require.NoError(t, rdb.HIncrBy(ctx, breaker.Key(seed.SentryAppID, org, lcNow()), "timeout_count", 3).Err())
		}
	}
	cleared := func(what string) {
		t.Helper()
		for _, org := range orgs {
			key := breaker.Key(seed.SentryAppID, org, lcNow())
			node := testenv.NodeClient(t, c.NodeOf(t, key))
			require.Zero(t, node.Exists(ctx, key).Val(), "%s: %s deleted on its node", what, key)
			fence, err := node.Get(ctx, breaker.FenceKey(key)).Int64()
			require.NoError(t, err, "%s: the fence of %s is on its node", what, key)
			require.Equal(t, breaker.EpochMicros(lcNow()), fence)
		}
		epoch, ok, err := breaker.New(rdb, breaker.Options{}).Epoch(ctx, seed.SentryAppID)
		require.NoError(t, err)
		require.True(t, ok && epoch.Equal(lcNow()), "%s: the epoch moved", what)
	}

	count()
	require.NoError(t, mgr.ClearBreaker(ctx, seed.SentryAppSlug))
	cleared("clear")

	count()
	require.NoError(t, db.Model(&models.SentryApp{}).Where("id = ?", seed.SentryAppID).
		UpdateColumn("events", models.StringList{}).Error) // disabled by hand
	require.NoError(t, mgr.Enable(ctx, seed.SentryAppSlug, events))
	cleared("enable")
}
