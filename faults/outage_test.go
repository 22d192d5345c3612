//go:build faults

package faults

import (
	"fmt"
	"testing"
	"time"
)

// TestFaultRedisRestart restarts Redis (SIGTERM, which flushes the AOF, 3 s
// down, start again on the same data) under a running worker: the worker
// reconnects by itself and finishes, nothing is lost.
func TestFaultRedisRestart(t *testing.T) {
	deliveryScenario{
		name: "redis-restart", tasks: 5000, trigger: 1000, latency: 5 * time.Millisecond,
		fault: func(t *testing.T, r *rig, w *proc) (*proc, time.Time, string) {
			r.redis.stop()
			down := time.Now()
			time.Sleep(3 * time.Second) // the outage itself
			r.redis.start()
			if w.exited() {
				t.Fatalf("the worker exited while Redis was down: %v\n%s", w.err, w.tail(30))
			}
			return w, time.Now(), fmt.Sprintf(" redis_down=%.1fs", time.Since(down).Seconds())
		},
		timeout: 3 * time.Minute,
	}.run(t)
}

// TestFaultPostgresStop stops the worker's PostgreSQL (a throwaway cluster)
// for 10 s under a running worker: deliveries that need the database in
// that window fail, are retried (WEBHOOK_RETRY_DELAY=1s) and succeed once it
// is back; nothing is lost or archived.
func TestFaultPostgresStop(t *testing.T) {
	var pg *pgServer
	deliveryScenario{
		name: "postgres-stop", tasks: 3000, trigger: 600, latency: 20 * time.Millisecond,
		env: []string{"WORKER_CONCURRENCY=10", "WEBHOOK_MAX_RETRIES=30", "CACHE_TTL=0"},
		databaseURL: func(t *testing.T) string {
			pg = startPostgres(t)
			return pg.url()
		},
		fault: func(t *testing.T, r *rig, w *proc) (*proc, time.Time, string) {
			pg.stop()
			down := time.Now()
			maxRetry := 0
			for time.Since(down) < 10*time.Second { // the outage itself, sampled
				if q := r.queue(); q.retry > maxRetry {
					maxRetry = q.retry
				}
				time.Sleep(200 * time.Millisecond)
			}
			pg.start()
			if maxRetry == 0 {
				t.Errorf("no task was waiting for a retry while PostgreSQL was down")
			}
			return w, time.Now(), fmt.Sprintf(" postgres_down=%.1fs max_retrying=%d", time.Since(down).Seconds(), maxRetry)
		},
		timeout: 3 * time.Minute,
	}.run(t)
}
