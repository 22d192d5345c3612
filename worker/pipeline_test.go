package worker_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// A plain asynq worker makes two Redis round trips per task (the fetch
// script and the acknowledgement script) besides its own writes; hookworker's
// servers share round trips through go-redis's auto-pipeliner, so a backlog
// drained by concurrent slots costs fewer round trips per delivery than
// asynq's own two, request log and breaker included. Round trips are counted
// as the writes on the worker's Redis connections (go-redis writes one
// request or one whole pipeline per write) between the first and the last
// receipt.
func TestWorkerSharesRedisRoundTripsBetweenDeliveries(t *testing.T) {
	t.Parallel()
	const apps, perApp = 20, 30
	r := testenv.NewRedis(t)
	var writes atomic.Int64
	counted := func(t *testing.T) redis.UniversalClient {
		o := *r.Client.Options()
		dial := &net.Dialer{}
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, writes: &writes}, nil
		}
		rdb := redis.NewClient(&o)
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	h := newHarness(t, harnessOptions{redis: counted, config: func(c *config.Config) {
		c.WorkerConcurrency = 100
		c.CacheTTL = time.Minute // no PostgreSQL query per delivery to slow the drain down
	}})

	var first, last atomic.Int64
	var got atomic.Int64
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		switch got.Add(1) {
		case 1:
			first.Store(writes.Load())
		case apps * perApp:
			last.Store(writes.Load())
		}
		time.Sleep(5 * time.Millisecond) // a receiver's work: slots overlap
		w.WriteHeader(http.StatusOK)
	})
	// The tasks go in through a client of their own, whose writes are not
	// counted.
	producer := asynq.NewClientFromRedisClient(r.Client)
	var ids []int64
	for range apps {
		ids = append(ids, h.seed(models.SeedOptions{WebhookURL: rc.URL}).InstallationID)
	}
	// Paused while the tasks go in, so that the worker meets a backlog.
	require.NoError(t, h.inspector.PauseQueue(tasks.QueueAppPlatform))
	for i := range apps * perApp {
		task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: ids[i%apps], Event: "issue.created",
			Data: json.RawMessage(`{"issue":{"id":"1"}}`)})
		require.NoError(t, err)
		_, err = producer.Enqueue(task)
		require.NoError(t, err)
	}
	require.NoError(t, h.inspector.UnpauseQueue(tasks.QueueAppPlatform))
	h.waitFor(func() bool { return last.Load() != 0 }, "not every task was delivered")

	perDelivery := float64(last.Load()-first.Load()) / float64(apps*perApp-1)
	t.Logf("%.2f Redis round trips per delivery", perDelivery)
	// Without the auto-pipeliner: 2.4–2.5 here (under -race), never below
	// asynq's own 2; with it 1.2–1.4 under -race, about 0.1 in make bench.
	require.Less(t, perDelivery, 2.0, "Redis round trips per delivery: the fetches and acknowledgements are not pipelined")
}

// countingConn counts the writes on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}
