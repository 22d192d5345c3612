package worker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/redisconn"
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
	return topologyClient(t, fmt.Sprintf("redis-sentinel://%s/0?master=%s", strings.Join(s.SentinelAddrs(), ","), s.MasterName))
}

// clusterRedis starts a 3-master cluster and returns a client made from its
// redis-cluster:// URL.
func clusterRedis(t *testing.T) redis.UniversalClient {
	c := testenv.NewRedisCluster(t)
	return topologyClient(t, "redis-cluster://"+strings.Join(c.Addrs(), ","))
}

func topologyClient(t *testing.T, raw string) redis.UniversalClient {
	t.Helper()
	o, err := redisconn.Parse(raw)
	require.NoError(t, err)
	rdb := redisconn.NewClient(o, func(u *redis.UniversalOptions) { u.PoolSize = 40 })
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
