//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/tasks"
)

// rig is one fault scenario's world: binaries, a throwaway Redis, a
// database, a receiver, a seeded installation and the environment the
// worker runs with.
type rig struct {
	t         *testing.T
	bin       binaries
	redis     *redisServer
	rdb       *redis.Client
	inspector *asynq.Inspector
	env       []string
}

// newRig starts Redis and prepares the environment; databaseURL is a
// testenv schema or a throwaway cluster; extraEnv overrides the defaults.
func newRig(t *testing.T, bin binaries, redisPassword, databaseURL string, extraEnv ...string) *rig {
	t.Helper()
	r := &rig{t: t, bin: bin, redis: startRedis(t, redisPassword)}
	r.rdb = r.redis.client()
	t.Cleanup(func() { r.rdb.Close() })
	r.inspector = asynq.NewInspectorFromRedisClient(r.rdb)
	r.env = baseEnv(append([]string{
		"REDIS_URL=" + r.redis.url(),
		"DATABASE_URL=" + databaseURL,
		"HTTP_ADDR=off",
		"LOG_LEVEL=warn",
		"WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32",
		"WEBHOOK_RETRY_DELAY=1s",
		"DELAYED_TASK_CHECK_INTERVAL=100ms",
		"SHUTDOWN_TIMEOUT=5s",
		"WORKER_CONCURRENCY=50",
	}, extraEnv...)...)
	return r
}

// seed creates an installation delivering to webhookURL and returns its id.
func (r *rig) seed(webhookURL string, args ...string) int64 {
	r.t.Helper()
	out := runCmd(r.t, r.bin.worker, r.env, nil, append([]string{"seed", "--webhook-url", webhookURL}, args...)...)
	var res struct {
		InstallationID int64 `json:"installation_id"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.InstallationID == 0 {
		r.t.Fatalf("seed output %q: %v", out, err)
	}
	return res.InstallationID
}

// enqueue enqueues one task per key for installation with `enqueue bulk`;
// each task's data is {"issue":{"id":"<key>"}}.
func (r *rig) enqueue(installation int64, keys []string) {
	r.t.Helper()
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, `{"installation_id":%d,"event":"issue.created","data":{"issue":{"id":%q}}}`+"\n", installation, k)
	}
	runCmd(r.t, r.bin.enqueue, r.env, []byte(b.String()), "bulk", "--workers", "8")
}

// startWorker starts `worker` with the rig's environment.
func (r *rig) startWorker(name string) *proc {
	r.t.Helper()
	return startProc(r.t, name, r.bin.worker, r.env)
}

// queueState is the task counts of the app_platform queue.
type queueState struct {
	pending, active, scheduled, retry, archived int
}

// queueNow prints the queue's state when it is printed, not when it is
// passed: for the message of a wait that fails.
type queueNow struct{ r *rig }

func (q queueNow) String() string { return fmt.Sprintf("%+v", q.r.queue()) }

// unfinished is how many tasks are still to run.
func (q queueState) unfinished() int { return q.pending + q.active + q.scheduled + q.retry }

func (r *rig) queue() queueState {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return queueState{pending: -1} // Redis is down: unknown, unfinished
	}
	q, err := r.inspector.GetQueueInfo(tasks.QueueAppPlatform)
	if err != nil {
		return queueState{pending: -1}
	}
	return queueState{pending: q.Pending, active: q.Active, scheduled: q.Scheduled, retry: q.Retry, archived: q.Archived}
}

// keys returns n task keys prefix-0 … prefix-(n-1).
func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
