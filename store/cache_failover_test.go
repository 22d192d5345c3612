package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/redisconn"
)

// The invalidation subscription follows a Sentinel failover and a cluster:
// after the master is killed and the replica promoted, Listen subscribes
// again on the new master and applies what is published there.
func TestCacheListenFollowsTopologies(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	c := testenv.NewRedisCluster(t)
	for name, raw := range map[string]string{
		"sentinel": s.URL(),
		"cluster":  c.URL(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o, err := redisconn.Parse(raw)
			require.NoError(t, err)
			listener, publisher := redisconn.NewClient(o, nil), redisconn.NewClient(o, nil)
			t.Cleanup(func() { listener.Close(); publisher.Close() })
			app, other, probe := randomAppID(), randomAppID(), randomAppID()
			l := &listeningCache{loader: newFakeLoader(map[int64]int64{1: app, 2: other, 3: probe}), done: make(chan struct{})}
			l.cache = NewCache(l.loader, time.Hour, 100)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				defer close(l.done)
				l.cache.Listen(ctx, listener, zaptest.NewLogger(t), nil)
			}()
			t.Cleanup(func() { cancel(); <-l.done })

			// roundTrip waits until a published invalidation of the probe
			// app reaches the cache; twice, so that the second cannot be the
			// drop-everything of a (re)subscription.
			roundTrip := func(what string) {
				for range 2 {
					l.get(t, 3)
					require.Eventually(t, func() bool {
						// While there is no master the publish fails: poll on.
						_ = PublishInvalidation(context.Background(), publisher, probe)
						return l.forgot(t, 3)
					}, 60*time.Second, 50*time.Millisecond, "%s: no invalidation arrived", what)
				}
			}
			roundTrip("before")
			if name == "sentinel" {
				s.Master.Kill()
				roundTrip("after the failover")
			}
			l.get(t, 1)
			l.get(t, 2)
			require.NoError(t, PublishInvalidation(context.Background(), publisher, app))
			require.Eventually(t, func() bool { return l.forgot(t, 1) }, 10*time.Second, 10*time.Millisecond)
			require.False(t, l.forgot(t, 2), "only the app published was forgotten")
		})
	}
}
