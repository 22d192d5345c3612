package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/tasks"
)

// Task types of the reference drains: same queue and payload as a
// resource-change task, different handler.
const (
	typeNoop = "bench:noop"
	typePost = "bench:post"
)

// drainServer is in-process asynq servers configured as the worker's
// (concurrency, queues and their weights, poll interval) around a trivial
// handler: the reference points hookworker is compared with. With one
// server it is what any asynq worker is; with several it fetches the way
// hookworker does (WORKER_FETCHERS), sharing the concurrency.
type drainServer struct {
	srvs []*asynq.Server
	rdb  redis.UniversalClient
}

// startDrain starts fetchers servers on redisURL whose handler is h.
func startDrain(redisURL string, concurrency, fetchers int, checkInterval time.Duration, h asynq.Handler) (*drainServer, error) {
	rdb, err := newRedisClient(redisURL, func(u *redis.UniversalOptions) {
		u.PoolSize = min(concurrency+20, 256) // as cmd/worker sizes its pool
		u.Protocol = 3                        // go-redis's default: the plain asynq worker's
		plainDialer(u)
	})
	if err != nil {
		return nil, err
	}
	d := &drainServer{rdb: rdb}
	fetchers = max(1, min(fetchers, concurrency))
	for i := range fetchers {
		share := concurrency / fetchers
		if i < concurrency%fetchers {
			share++
		}
		srv := asynq.NewServerFromRedisClient(d.rdb, asynq.Config{
			Concurrency:       share,
			Queues:            map[string]int{tasks.QueueAppPlatform: 6, tasks.QueueEmail: 1},
			TaskCheckInterval: checkInterval,
			ShutdownTimeout:   5 * time.Second,
			Logger:            zap.NewNop().Sugar(),
			LogLevel:          asynq.ErrorLevel,
		})
		if err := srv.Start(h); err != nil {
			d.stop()
			return nil, fmt.Errorf("start asynq server: %w", err)
		}
		d.srvs = append(d.srvs, srv)
	}
	return d, nil
}

// stop shuts the servers down and closes their client.
func (d *drainServer) stop() {
	var wg sync.WaitGroup
	for _, srv := range d.srvs {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
	d.rdb.Close()
}

// noopHandler records when each task was handled and does nothing else.
func noopHandler(t *tally) asynq.Handler {
	return asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		t.add(time.Now(), -1)
		return nil
	})
}

// newPostClient returns the shared HTTP client of the bare-POST floor,
// tuned as a webhook worker's would be: keep-alive connections for every
// concurrent task, no compression, the worker's timeout.
func newPostClient(concurrency int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        concurrency * 2,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// postHandler only POSTs the task's payload to url and returns: no lookup,
// no signature, no request log. The receiver counts the deliveries.
func postHandler(client *http.Client, url string) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(t.Payload()))
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("post: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
}
