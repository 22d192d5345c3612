package requestlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/requestlog"
)

// topologies are the Redis deployments the writer must behave the same on:
// each returns a client of a fresh one.
var topologies = []struct {
	name   string
	client func(t testing.TB) redis.UniversalClient
}{
	{"single", func(t testing.TB) redis.UniversalClient { return testenv.NewRedis(t).Client }},
	{"cluster", func(t testing.TB) redis.UniversalClient { return testenv.NewRedisCluster(t).ClusterClient(t) }},
}

// TestWriterCounterFence checks the counter's fence with the breaker's own
// keys and Reset: an attempt that started before a reset is logged but not
// counted, one that started at or after it is counted, on a single node and
// on a cluster alike.
func TestWriterCounterFence(t *testing.T) {
	t.Parallel()
	for _, topo := range topologies {
		t.Run(topo.name, func(t *testing.T) {
			t.Parallel()
			rdb := topo.client(t)
			ctx := context.Background()
			reset := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			b := breaker.New(rdb, breaker.Options{Now: func() time.Time { return reset }})
			w := requestlog.NewWriter(rdb)
			t.Cleanup(w.Close)
			write := func(started time.Time) {
				t.Helper()
				inc, ok := b.Increment(5, 9, breaker.Timeout, started)
				require.True(t, ok)
				c := requestlog.Counter(inc)
				require.NoError(t, w.Write(ctx, 5, "issue.created", requestlog.Entry{ResponseCode: 0}, &c))
			}
			count := func() string { return rdb.HGet(ctx, breaker.Key(5, 9, reset), "timeout_count").Val() }

			write(reset.Add(-time.Hour))
			require.Equal(t, "1", count(), "no reset yet: counted")

			require.NoError(t, b.Reset(ctx, 5, []int64{9}))
			require.Empty(t, count(), "the reset deleted today's counter")
			write(reset.Add(-time.Microsecond))
			require.Empty(t, count(), "started before the reset: not counted")
			write(reset)
			write(reset.Add(time.Second))
			require.Equal(t, "2", count(), "started at or after the reset: counted")

			n, err := rdb.LLen(ctx, requestlog.RequestKey(5, "issue.created")).Result()
			require.NoError(t, err)
			require.EqualValues(t, 4, n, "every attempt is logged, counted or not")
		})
	}
}

// TestWriterOnCluster writes, concurrently, successes and counted failures
// of apps whose request lists land on every master of a 3-master cluster,
// and checks each of Sentry's keys, by its exact name, on the node that owns
// its slot with a plain client of that node.
func TestWriterOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	rdb := c.ClusterClient(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	b := breaker.New(rdb, breaker.Options{Now: func() time.Time { return now }})
	w := requestlog.NewWriter(rdb)
	t.Cleanup(w.Close)

	// The first app ids whose lists, and whose counters, cover every master.
	const org = 9
	var apps []int64
	lists, counters := map[string]bool{}, map[string]bool{}
	for id := int64(1); len(lists) < len(c.Nodes) || len(counters) < len(c.Nodes) || len(apps) < 6; id++ {
		apps = append(apps, id)
		lists[c.NodeOf(t, requestlog.RequestKey(id, "issue.created")).Addr] = true
		counters[c.NodeOf(t, breaker.Key(id, org, now)).Addr] = true
	}
	var wg sync.WaitGroup
	for _, app := range apps {
		for _, code := range []int{200, 404} {
			wg.Go(func() {
				var counter *requestlog.Counter
				if inc, ok := b.Increment(app, org, breaker.Classify(code), now); ok {
					c := requestlog.Counter(inc)
					counter = &c
				}
				require.NoError(t, w.Write(ctx, app, "issue.created", requestlog.Entry{ResponseCode: code}, counter))
			})
		}
	}
	wg.Wait()

	for _, app := range apps {
		request := fmt.Sprintf("sentry-app-webhook-request:{%d}:issue.created", app)
		errs := fmt.Sprintf("sentry-app-webhook-error:{%d}:issue.created", app)
		counter := fmt.Sprintf("sentry-app-error:%d:%d:2026-11-27", app, org)
		require.Equal(t, request, requestlog.RequestKey(app, "issue.created"))
		require.Equal(t, errs, requestlog.ErrorKey(app, "issue.created"))
		require.Equal(t, counter, breaker.Key(app, org, now))

		node := testenv.NodeClient(t, c.NodeOf(t, request))
		require.EqualValues(t, 2, node.LLen(ctx, request).Val(), "%s on its node", request)
		require.EqualValues(t, 1, node.LLen(ctx, errs).Val(), "%s on its node", errs)
		require.Positive(t, node.TTL(ctx, request).Val(), "%s has a TTL", request)

		hash := testenv.NodeClient(t, c.NodeOf(t, counter)).HGetAll(ctx, counter).Val()
		require.Equal(t, map[string]string{"success_count": "1", "error_count": "1"}, hash, "%s on its node", counter)
	}
}

// scriptCalls is a go-redis hook that keeps the EVALSHA and EVAL commands
// sent through a client.
type scriptCalls struct {
	mu   sync.Mutex
	cmds []redis.Cmder
}

func (h *scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		for _, c := range cmds {
			if n := c.Name(); n == "evalsha" || n == "eval" {
				h.cmds = append(h.cmds, c)
			}
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestWriterScriptCalls checks what one counted write sends: one script
// naming the two lists, the counter and its fence on a single node; on a
// cluster two, the lists' and the counter's, each naming keys of one slot.
func TestWriterScriptCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want [][]string // the keys of each script call
	}{
		{"single", [][]string{{"sentry-app-webhook-request:{5}:issue.created", "sentry-app-webhook-error:{5}:issue.created",
			"sentry-app-error:5:9:2026-11-27", "hookworker:breaker-fence:{sentry-app-error:5:9:2026-11-27}"}}},
		{"cluster", [][]string{{"sentry-app-webhook-request:{5}:issue.created", "sentry-app-webhook-error:{5}:issue.created"},
			{"sentry-app-error:5:9:2026-11-27", "hookworker:breaker-fence:{sentry-app-error:5:9:2026-11-27}"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rdb redis.UniversalClient
			for _, topo := range topologies {
				if topo.name == tc.name {
					rdb = topo.client(t)
				}
			}
			ctx := context.Background()
			require.NoError(t, rdb.Ping(ctx).Err())
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			inc, ok := breaker.New(rdb, breaker.Options{Now: func() time.Time { return now }}).Increment(5, 9, breaker.Error, now)
			require.True(t, ok)
			c := requestlog.Counter(inc)
			w := requestlog.NewWriter(rdb)
			t.Cleanup(w.Close)
			require.NoError(t, w.Write(ctx, 5, "issue.created", requestlog.Entry{ResponseCode: 404}, &c)) // loads the scripts
			h := &scriptCalls{}
			rdb.AddHook(h)
			require.NoError(t, w.Write(ctx, 5, "issue.created", requestlog.Entry{ResponseCode: 404}, &c))

			var got [][]string
			for _, cmd := range h.cmds {
				args := cmd.Args()
				require.Equal(t, "evalsha", args[0], "the scripts are cached: EVALSHA, in one pipeline")
				n := int(args[2].(int))
				keys := make([]string, n)
				for i := range n {
					keys[i] = args[3+i].(string)
				}
				got = append(got, keys)
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, "2", rdb.HGet(ctx, c.Key, "error_count").Val())
		})
	}
}
