package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterClient returns a go-redis ClusterClient on c's nodes, closed at the
// end of the test, that has already loaded the slot map (so its first
// command is not a MOVED retry).
func (c *RedisCluster) ClusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() }); err != nil {
		t.Fatalf("testenv: cluster client: %v", err)
	}
	return rdb
}

// NodeOf returns the master of c that owns key's hash slot, asked of the
// cluster itself (CLUSTER KEYSLOT, CLUSTER SLOTS), so tests can check a key
// on the node that holds it with a plain client.
func (c *RedisCluster) NodeOf(t testing.TB, key string) *RedisProcess {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr})
	defer rdb.Close()
	slot, err := rdb.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("testenv: CLUSTER KEYSLOT %s: %v", key, err)
	}
	ranges, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("testenv: CLUSTER SLOTS: %v", err)
	}
	for _, r := range ranges {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			for _, n := range c.Nodes {
				if n.Addr == r.Nodes[0].Addr {
					return n
				}
			}
		}
	}
	t.Fatalf("testenv: no node of the cluster owns slot %d of %s", slot, key)
	return nil
}

// NodeClient returns a plain client of one node, closed at the end of the
// test: it sees only the keys that node holds.
func NodeClient(t testing.TB, p *RedisProcess) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
