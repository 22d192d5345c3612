package main

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
)

// connectRedis makes the worker's client for each mode of REDIS_URL, and
// the startup line names it without the password.
func TestConnectRedisTopologies(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	c := testenv.NewRedisCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sentinelURL := s.URL()
	rdb, err := connectRedis(ctx, sentinelURL, 10)
	require.NoError(t, err)
	require.IsType(t, &redis.Client{}, rdb, "Sentinel: go-redis's failover client, a *redis.Client")
	require.Equal(t, 30, rdb.(*redis.Client).Options().PoolSize)
	require.NoError(t, rdb.Set(ctx, "hookworker:test:k", "v", time.Minute).Err(), "it writes to the master")
	rdb.Close()
	require.Equal(t, sentinelURL+" (sentinel)", redisLabel(sentinelURL))

	// Nothing listens on port 1: the error names the cluster, not its password.
	_, err = connectRedis(ctx, "redis-cluster://:secretpw@127.0.0.1:1", 10)
	require.ErrorContains(t, err, "redis at redis-cluster://:***@127.0.0.1:1 does not answer")
	require.NotContains(t, err.Error(), "secretpw")
	clusterURL := c.URL()
	rdb, err = connectRedis(ctx, clusterURL, 10)
	require.NoError(t, err)
	require.IsType(t, &redis.ClusterClient{}, rdb)
	rdb.Close()
	require.Equal(t, "redis-cluster://:***@127.0.0.1:1 (cluster)", redisLabel("redis-cluster://:pw@127.0.0.1:1"))

	_, err = connectRedis(ctx, "redis-cluster://127.0.0.1:7000/2", 10)
	require.EqualError(t, err, "REDIS_URL: redis-cluster URL cannot select a database (/2): a cluster has only database 0")
}
