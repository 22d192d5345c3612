package redisconn

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplicaProbeKey is the key WaitReplicated writes (with a one-minute
// expiry) so that its WAIT has a write of its own connection to wait for.
const ReplicaProbeKey = "hookworker:replicated"

// WaitReplicated waits up to timeout until at least replicas replicas have
// acknowledged every write the master had received when it was called,
// from any connection, and returns how many did. Redis replication is
// asynchronous: a task the master acknowledged can be missing from the
// replica that Sentinel promotes when the master dies. A producer that
// calls this after a batch of enqueues knows the batch survives a failover
// once it returns at least 1.
//
// WAIT counts the writes of the connection it is sent on, and a client
// spreads commands over a pool, so WaitReplicated writes ReplicaProbeKey and
// sends WAIT on one connection: the replication offset is global, so the
// replica acknowledging that write has every earlier one. rdb is a
// single-node or Sentinel client (*redis.Client); on a Redis without
// replicas it returns 0 after timeout.
func WaitReplicated(ctx context.Context, rdb redis.UniversalClient, replicas int, timeout time.Duration) (int, error) {
	c, ok := rdb.(*redis.Client)
	if !ok {
		return 0, fmt.Errorf("redis: waiting for replicas needs a single-node or Sentinel client, not %T", rdb)
	}
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Set(ctx, ReplicaProbeKey, time.Now().UnixMilli(), time.Minute).Err(); err != nil {
		return 0, fmt.Errorf("redis: write before WAIT: %w", err)
	}
	n, err := conn.Wait(ctx, replicas, timeout).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: WAIT %d %d: %w", replicas, timeout.Milliseconds(), err)
	}
	return int(n), nil
}
