package breaker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/internal/testenv"
)

// TestFenceKeySlot checks on a real cluster that a fence shares its daily
// key's hash slot, so one script may name both.
func TestFenceKeySlot(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	rdb := testenv.NodeClient(t, c.Nodes[0])
	ctx := context.Background()
	for _, key := range []string{Key(7, 9, day0()), Key(1, 1, day0().AddDate(0, 0, 1)), Key(123456, 987654, day0())} {
		want, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := rdb.ClusterKeySlot(ctx, FenceKey(key)).Val(); got != want {
			t.Errorf("slot of %s = %d, want %d (the slot of %s)", FenceKey(key), got, want, key)
		}
	}
}

// TestBrokenAndResetOnCluster runs the 7-day read and the 30-day clear on a
// 3-master cluster, whose daily keys of one app land on every master: each
// key (and each fence) is checked on the node that owns its slot.
func TestBrokenAndResetOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	rdb := c.ClusterClient(t)
	clk := &fakeClock{t: day0()}
	b := New(rdb, Options{Now: clk.Now})
	ctx := context.Background()

	nodes := map[string]bool{}
	for d := range 31 { // an error on each of today … today−30
		clk.t = day0().AddDate(0, 0, -d)
		pipe := rdb.Pipeline()
		b.Record(pipe, 7, 9, Error)
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("record: %v", err)
		}
		nodes[c.NodeOf(t, Key(7, 9, clk.t)).Addr] = true
	}
	clk.t = day0()
	if len(nodes) != len(c.Nodes) {
		t.Fatalf("the daily keys landed on %d masters, want all %d", len(nodes), len(c.Nodes))
	}
	got, err := b.Broken(ctx, 7, 9)
	if err != nil || !got {
		t.Fatalf("Broken = %v, %v; want true across slots", got, err)
	}

	if err := b.Reset(ctx, 7, []int64{9}); err != nil {
		t.Fatalf("Reset across slots: %v", err)
	}
	for d := range 31 {
		key := Key(7, 9, day0().AddDate(0, 0, -d))
		n := testenv.NodeClient(t, c.NodeOf(t, key)).Exists(ctx, key).Val()
		if want := int64(map[bool]int{true: 1}[d == 30]); n != want {
			t.Errorf("%s (today-%d) exists = %d on its node, want %d", key, d, n, want)
		}
	}
	for d := -1; d <= 1; d++ {
		key := Key(7, 9, day0().AddDate(0, 0, d))
		fence := FenceKey(key)
		node := testenv.NodeClient(t, c.NodeOf(t, key))
		if v, err := node.Get(ctx, fence).Int64(); err != nil || v != EpochMicros(day0()) {
			t.Errorf("%s on %s's node = %d, %v; want %d", fence, key, v, err, EpochMicros(day0()))
		}
		if ttl := node.TTL(ctx, fence).Val(); ttl < 7*24*time.Hour {
			t.Errorf("TTL of %s = %v, want 8 days", fence, ttl)
		}
	}
	if got, err := b.Broken(ctx, 7, 9); err != nil || got {
		t.Errorf("Broken after Reset = %v, %v; want false", got, err)
	}
	if epoch, ok, err := b.Epoch(ctx, 7); err != nil || !ok || !epoch.Equal(day0()) {
		t.Errorf("Epoch = %v, %v, %v; want %v", epoch, ok, err, day0())
	}
}
