package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/redisconn"
	"github.com/hookworker/hookworker/tasks"
)

// topology is a kind of Redis deployment a test can run the worker on.
type topology struct {
	name string
	// redis is harnessOptions.redis; nil is the shared test Redis (one node).
	redis func(t *testing.T) redis.UniversalClient
}

// topologies are the Redis deployments the core end-to-end cases run on:
// one node, a master with a replica under Sentinel, a 3-master cluster. The
// latter two start their own redis-server processes and are skipped without
// them.
func topologies() []topology {
	return []topology{
		{name: "single"},
		{name: "sentinel", redis: sentinelRedis},
		{name: "cluster", redis: clusterRedis},
	}
}

// sentinelRedis starts a Sentinel setup and returns a client made from its
// redis-sentinel:// URL, as the worker command would make it.
func sentinelRedis(t *testing.T) redis.UniversalClient {
	s := testenv.NewRedisSentinel(t)
	return topologyClient(t, s.URL())
}

// clusterRedis starts a 3-master cluster and returns a client made from its
// redis-cluster:// URL.
func clusterRedis(t *testing.T) redis.UniversalClient {
	c := testenv.NewRedisCluster(t)
	return topologyClient(t, c.URL())
}

func topologyClient(t *testing.T, raw string) redis.UniversalClient {
	t.Helper()
	o, err := redisconn.Parse(raw)
	require.NoError(t, err)
	rdb := redisconn.NewClient(o, func(u *redis.UniversalOptions) { u.PoolSize = 40 })
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// The worker rides out a Sentinel failover by itself: a delivery before
// the master is killed, one enqueued after the replica is promoted, both
// arrive, and the worker keeps running.
func TestWorkerFollowsSentinelFailover(t *testing.T) {
	t.Parallel()
	var s *testenv.RedisSentinel
	h := newHarness(t, harnessOptions{redis: func(t *testing.T) redis.UniversalClient {
		s = testenv.NewRedisSentinel(t)
		return topologyClient(t, s.URL())
	}})
	rc := statusReceiver(t, http.StatusOK)
	seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook"})
	send := func() string {
		var id string
		// While there is no master the enqueue fails: the producer retries.
		require.Eventually(t, func() bool {
			task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"},
				asynq.Retention(time.Hour))
			require.NoError(t, err)
			info, err := h.client.Enqueue(task)
			if err != nil {
				return false
			}
			id = info.ID
			return true
		}, 60*time.Second, 50*time.Millisecond, "no enqueue succeeded")
		return id
	}
	first := send()
	h.waitState(tasks.QueueAppPlatform, first, asynq.TaskStateCompleted)
	// Replication is asynchronous: the test kills the master only once the
	// replica has everything so far (the queue's registration included),
	// as a producer that must lose nothing would wait.
	n, err := redisconn.WaitReplicated(context.Background(), h.rdb, 1, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the replica did not acknowledge the writes before the kill")

	s.Master.Kill()
	killed := time.Now()
	second := send()
	require.Eventually(t, func() bool {
		info, err := h.inspector.GetTaskInfo(tasks.QueueAppPlatform, second)
		return err == nil && info.State == asynq.TaskStateCompleted
	}, 60*time.Second, 20*time.Millisecond, "the task enqueued after the failover was never completed")
	t.Logf("delivered %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	ids := map[string]bool{}
	for _, r := range rc.requests() {
		ids[r.Header.Get("Hookworker-Delivery-ID")] = true
	}
	require.True(t, ids[first] && ids[second], "both deliveries arrived: %v", ids)
}
