package redisconn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/redisconn"
)

// WaitReplicated counts the replica on Sentinel, which then holds every
// earlier write (written on other connections of the pool), returns 0 on a
// node without replicas, and refuses a cluster client.
func TestWaitReplicated(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	o, err := redisconn.Parse(s.URL())
	require.NoError(t, err)
	rdb := redisconn.NewClient(o, nil)
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	for i := range 50 {
		require.NoError(t, rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err())
	}
	n, err := redisconn.WaitReplicated(ctx, rdb, 1, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	replica := testenv.NodeClient(t, s.Replica)
	require.Equal(t, "49", replica.Get(ctx, "k49").Val(), "the replica has the writes that came before")

	single := testenv.NewRedis(t).Client
	start := time.Now()
	n, err = redisconn.WaitReplicated(ctx, single, 1, 200*time.Millisecond)
	require.NoError(t, err)
	require.Zero(t, n, "a node without replicas: none acknowledged")
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "it waited for the timeout")

	c := testenv.NewRedisCluster(t)
	_, err = redisconn.WaitReplicated(ctx, c.ClusterClient(t), 1, time.Second)
	require.ErrorContains(t, err, "needs a single-node or Sentinel client")
}
