package ops_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/redisconn"
)

// fakeDB is a database that always answers: these tests are about Redis.
func fakeDB(context.Context) error { return nil }

// topologyClient returns the worker's kind of client for raw.
func topologyClient(t *testing.T, raw string) redis.UniversalClient {
	t.Helper()
	o, err := redisconn.Parse(raw)
	require.NoError(t, err)
	rdb := redisconn.NewClient(o, nil)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// On Sentinel, /readyz answers 200; when the master is killed it reports
// the outage while there is no master (if a probe falls in that window)
// and 200 again once the Sentinels have promoted the replica.
func TestReadyzAcrossSentinelFailover(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	raw := s.URL()
	rdb := topologyClient(t, raw)
	url := startServer(t, ops.Options{Redis: rdb, RedisURL: raw, PingDB: fakeDB, Gatherer: prometheus.NewRegistry(),
		ReadyTimeout: time.Second})
	require.Equal(t, http.StatusOK, get(t, url+"/readyz", "").code)

	sentinel := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr})
	t.Cleanup(func() { sentinel.Close() })
	killed := time.Now()
	s.Master.Kill()

	// Poll /readyz until the Sentinels name the replica as master.
	var outage []string
	promoted := func() bool {
		addr, err := sentinel.GetMasterAddrByName(context.Background(), s.MasterName).Result()
		return err == nil && strings.Join(addr, ":") == s.Replica.Addr
	}
	require.Eventually(t, func() bool {
		if r := get(t, url+"/readyz", ""); r.code != http.StatusOK {
			require.Equal(t, http.StatusServiceUnavailable, r.code)
			require.Contains(t, r.body, "redis: ")
			outage = append(outage, r.body)
		}
		return promoted()
	}, 60*time.Second, 50*time.Millisecond, "the Sentinels never promoted the replica")
	t.Logf("failover after %s; /readyz said 503 %d times, e.g. %q", time.Since(killed).Round(10*time.Millisecond), len(outage), first(outage))

	var last string
	require.Eventually(t, func() bool {
		r := get(t, url+"/readyz", "")
		last = r.body
		return r.code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "/readyz never recovered after the failover: %q", last)
	t.Logf("/readyz ready again %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	require.NoError(t, rdb.Set(context.Background(), "hookworker:test:after-failover", "1", time.Minute).Err(),
		"the client writes to the new master")
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// On a cluster, the queue UI's API lists app_platform, /metrics has its
// queue series, and /readyz pings every master.
func TestQueueUIOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	raw := c.URL()
	rdb := topologyClient(t, raw)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	for i := range 3 {
		_, err := client.Enqueue(asynq.NewTask("sentry_apps:send_resource_change_webhook", []byte(fmt.Sprint(i))), asynq.Queue("app_platform"))
		require.NoError(t, err)
	}
	url := startServer(t, ops.Options{Redis: rdb, RedisURL: raw, PingDB: fakeDB, Gatherer: prometheus.NewRegistry()})

	r := get(t, url+"/monitoring/api/queues", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, `"queue":"app_platform"`)
	r = get(t, url+"/monitoring/api/redis_info", "")
	require.Equal(t, http.StatusOK, r.code, r.body)

	m := get(t, url+"/metrics", "")
	require.Equal(t, http.StatusOK, m.code)
	v, ok := sample(m.body, `asynq_queue_size{queue="app_platform"}`)
	require.True(t, ok, m.body)
	require.Equal(t, 3.0, v)

	require.Equal(t, http.StatusOK, get(t, url+"/readyz", "").code)
	c.Nodes[2].Kill()
	var last reply
	require.Eventually(t, func() bool {
		last = get(t, url+"/readyz", "")
		return last.code == http.StatusServiceUnavailable
	}, 20*time.Second, 50*time.Millisecond, "a master down never made /readyz 503: %v", last)
	require.Contains(t, last.body, "cluster node "+c.Nodes[2].Addr)
}

// The console reads breaker counters of apps whose keys live on different
// cluster masters.
func TestConsoleCountersOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	rdb := topologyClient(t, c.URL())
	pg := testenv.NewPostgres(t)
	require.NoError(t, models.Migrate(pg.DB))
	ctx := context.Background()
	now := time.Now()
	want := map[string]int64{}
	masters := map[string]bool{}
	for i := range 6 {
		seed, err := models.Seed(pg.DB, models.SeedOptions{WebhookURL: "https://example.com/hook", Status: models.AppInternal,
			Name: fmt.Sprintf("cluster app %d", i)})
		require.NoError(t, err)
		key := breaker.Key(seed.SentryAppID, seed.OrganizationID, now)
		require.NoError(t, rdb.HIncrBy(ctx, key, "error_count", int64(i+1)).Err())
		node, err := rdb.(*redis.ClusterClient).MasterForKey(ctx, key)
		require.NoError(t, err)
		masters[node.Options().Addr] = true
		want[seed.SentryAppSlug] = int64(i + 1)
	}
	require.Greater(t, len(masters), 1, "the keys are spread over more than one master")
	console, err := ops.NewConsole(ops.ConsoleConfig{DB: pg.DB, Redis: rdb, Integrations: lifecycle.NewManager(lifecycle.Deps{DB: pg.DB, Redis: rdb})})
	require.NoError(t, err)
	page, err := console.Apps(ctx, 1, 0)
	require.NoError(t, err)
	got := map[string]int64{}
	for _, a := range page.Apps {
		got[a.Slug] = a.Days[len(a.Days)-1].Error
	}
	require.Equal(t, want, got)
}
