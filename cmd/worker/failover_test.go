package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/producer"
	"github.com/hookworker/hookworker/redisconn"
)

// Failover figures of TestSentinelFailover2000 (docs/operations.md quotes
// them).
const (
	failoverTasks       = 2000
	failoverAfterKill   = 500 // of failoverTasks, enqueued after the kill
	failoverKillAfter   = 500
	failoverConcurrency = 20
)

// failoverReceiver records, for each request, its arrival and its
// Hookworker-Delivery-ID and body.
type failoverReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	at     []time.Time
	bodies map[string][]string // delivery id → bodies, one per arrival
}

func newFailoverReceiver(t *testing.T) *failoverReceiver {
	rc := &failoverReceiver{bodies: map[string][]string{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.at = append(rc.at, time.Now())
		id := r.Header.Get("Hookworker-Delivery-ID")
		rc.bodies[id] = append(rc.bodies[id], string(body))
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *failoverReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.at)
}

func (rc *failoverReceiver) unique() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

// readyzWatch polls /readyz until stop and remembers when it first stopped
// answering 200 and when it answered 200 again.
type readyzWatch struct {
	mu         sync.Mutex
	down, back time.Time
}

func (r *readyzWatch) run(url string, stop <-chan struct{}) {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond): // polling interval
		}
		ok := false
		if resp, err := client.Get(url); err == nil {
			ok = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
		r.mu.Lock()
		switch {
		case !ok && r.down.IsZero():
			r.down = time.Now()
		case ok && !r.down.IsZero() && r.back.IsZero():
			r.back = time.Now()
		}
		r.mu.Unlock()
	}
}

// TestSentinelFailover2000 puts 2,000 tasks through the real worker binary
// on Redis Sentinel and SIGKILLs the master after about 500 deliveries.
// Every task is delivered at least once, a task delivered twice carries
// its own delivery id (and the same body) both times, the worker process
// never exits, and the time from the kill to deliveries flowing again is
// logged, with /readyz's outage.
//
// 1,500 tasks are enqueued before the worker starts and the producer then
// waits for the replica to acknowledge them (WAIT 1): Redis replication is
// asynchronous, so a task the master acknowledged in its last moment could
// otherwise be missing from the promoted replica. The last 500 are enqueued
// right after the kill, each retried (with its own task id) until the new
// master takes it, as a producer rides out a failover. What the old master
// did not pass on of the worker's own progress (dequeues, completions) is
// re-run: those are the duplicates.
func TestSentinelFailover2000(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	pg := testenv.NewPostgres(t)
	require.NoError(t, models.Migrate(pg.DB))
	rc := newFailoverReceiver(t)
	seed, err := models.Seed(pg.DB, models.SeedOptions{WebhookURL: rc.URL + "/hook", Status: models.AppUnpublished,
		Events: []string{"issue.created"}})
	require.NoError(t, err)

	redisURL := s.URL()
	o, err := redisconn.Parse(redisURL)
	require.NoError(t, err)
	rdb := redisconn.NewClient(o, nil)
	t.Cleanup(func() { rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	ctx := context.Background()

	enqueued := make(map[string]bool, failoverTasks)
	enqueue := func(i int) error {
		id := fmt.Sprintf("failover-%04d", i)
		_, err := producer.Enqueue(ctx, client, producer.ResourceChange{InstallationID: seed.InstallationID,
			Event: "issue.created", Data: []byte(fmt.Sprintf(`{"issue":{"id":"%d"}}`, i))}, asynq.TaskID(id))
		if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) { // a retry of one that got through
			enqueued[id] = true
			return nil
		}
		return err
	}
	for i := range failoverTasks - failoverAfterKill {
		require.NoError(t, enqueue(i))
	}
	replicas, err := redisconn.WaitReplicated(ctx, rdb, 1, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, replicas, "the replica acknowledged the enqueued tasks")

	bin := buildBinaries(t)
	httpAddr := freeLoopbackAddr(t)
	env := cleanEnv("REDIS_URL="+redisURL, "DATABASE_URL="+pg.URL, "HTTP_ADDR="+httpAddr,
		"WEBHOOK_ALLOW_PRIVATE=true", fmt.Sprintf("WORKER_CONCURRENCY=%d", failoverConcurrency),
		"WEBHOOK_APP_CONCURRENCY=0", "WEBHOOK_RETRY_DELAY=100ms", "LOG_LEVEL=info")
	w := startProcess(t, t.TempDir(), env, filepath.Join(bin, "worker"))
	waitReady(t, w, "http://"+httpAddr+"/readyz")
	alive := func() {
		t.Helper()
		select {
		case <-w.exited:
			t.Fatalf("the worker exited (%v):\n%s", w.err, w.logs())
		default:
		}
	}

	deadline := time.Now().Add(time.Minute)
	for rc.count() < failoverKillAfter {
		alive()
		require.True(t, time.Now().Before(deadline), "only %d deliveries before the kill:\n%s", rc.count(), tail(w.logs(), 4000))
		time.Sleep(time.Millisecond) // polling interval
	}
	var ready readyzWatch
	stop := make(chan struct{})
	var watched sync.WaitGroup
	watched.Go(func() { ready.run("http://"+httpAddr+"/readyz", stop) })
	t.Cleanup(func() { close(stop); watched.Wait() })

	s.Master.Kill()
	killed := time.Now()
	atKill := rc.count()
	t.Logf("SIGKILLed the master after %d of %d deliveries", atKill, failoverTasks)
	retries := 0
	for i := failoverTasks - failoverAfterKill; i < failoverTasks; i++ {
		for err := enqueue(i); err != nil; err = enqueue(i) {
			alive()
			require.True(t, time.Since(killed) < time.Minute, "task %d not enqueued a minute after the kill: %v", i, err)
			retries++
			time.Sleep(50 * time.Millisecond) // the producer's retry interval
		}
	}
	t.Logf("enqueued the last %d tasks %.1f s after the kill (%d retries while there was no master)",
		failoverAfterKill, time.Since(killed).Seconds(), retries)
	require.Len(t, enqueued, failoverTasks)

	// Every task delivered: those enqueued before the kill were replicated,
	// the rest went to the new master (asynq's recoverer re-runs what the
	// old master had leased, after the 30 s lease).
	deadline = time.Now().Add(4 * time.Minute)
	for rc.unique() < failoverTasks {
		alive()
		require.True(t, time.Now().Before(deadline), "only %d of %d tasks delivered 4 min after the kill:\n%s",
			rc.unique(), failoverTasks, tail(w.logs(), 4000))
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	allIn := time.Since(killed)
	// /readyz reports the outage and the recovery.
	require.Eventually(t, func() bool {
		ready.mu.Lock()
		defer ready.mu.Unlock()
		return !ready.back.IsZero()
	}, 30*time.Second, 20*time.Millisecond, "/readyz never reported the outage and the recovery")
	alive()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	duplicates := 0
	for id, bodies := range rc.bodies {
		require.True(t, enqueued[id], "delivery id %q is not one of the enqueued tasks", id)
		for _, b := range bodies[1:] {
			require.Equal(t, bodies[0], b, "a duplicate of %s carries the same body", id)
		}
		duplicates += len(bodies) - 1
	}
	require.Equal(t, len(rc.at), failoverTasks+duplicates)
	// Deliveries flowing again: the first arrival that cannot be one of the
	// (at most WORKER_CONCURRENCY) requests in flight at the kill.
	at := append([]time.Time(nil), rc.at...)
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	require.Greater(t, len(at), atKill+failoverConcurrency, "deliveries after the kill")
	recovered := at[atKill+failoverConcurrency].Sub(killed)
	ready.mu.Lock()
	readyDown, readyBack := ready.down.Sub(killed), ready.back.Sub(killed)
	ready.mu.Unlock()
	t.Logf("failover: tasks %d, lost 0, duplicates %d, recovery %.1f s (kill → deliveries flowing again), "+
		"all delivered %.1f s after the kill; /readyz down at +%.1f s, ready again at +%.1f s",
		failoverTasks, duplicates, recovered.Seconds(), allIn.Seconds(), readyDown.Seconds(), readyBack.Seconds())
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
