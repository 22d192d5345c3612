package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/producer"
)

// Oversized tasks from a producer that does not check sizes are archived
// at once with a clear error, and cost the worker process at most twice
// their bytes in peak memory (VmHWM) while it archives twenty 10 MB tasks
// enqueued straight with asynq. An operator listing them in the queue UI
// then gets the first 4 KiB of each payload, not 210 MB of JSON, and the
// worker's peak stays within 4× the tasks' bytes (asynq's inspector loads
// each listed task whole; with payloads shown whole it was 1.58 GB, 7.7×).
func TestOversizedTasksMemory(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/<pid>/status")
	}
	const tasks, taskBytes = 20, 10 << 20
	bin := buildBinaries(t)
	r := testenv.NewRedis(t)
	opt := *r.Client.Options()
	opt.ReadTimeout, opt.WriteTimeout = 30*time.Second, 30*time.Second // 200 MB go through one Redis
	rdb := redis.NewClient(&opt)
	t.Cleanup(func() { rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)

	httpAddr := freeLoopbackAddr(t)
	// Two fetch loops, as with the embedded Redis: on a loaded test machine
	// 32 concurrent 10 MB dequeues outlast go-redis's 3 s read timeout.
	env := cleanEnv("REDIS_URL="+r.URL, "HTTP_ADDR="+httpAddr, "WORKER_FETCHERS=2")
	w := startProcess(t, t.TempDir(), env, filepath.Join(bin, "worker"))
	waitReady(t, w, "http://"+httpAddr+"/readyz")
	pid := w.cmd.Process.Pid
	before := procStatusKB(t, pid, "VmHWM")

	payload := bytes.Repeat([]byte("a"), taskBytes)
	copy(payload, `{"installation_id":1,"event":"issue.created","data":{"x":"`)
	copy(payload[len(payload)-3:], `"}}`)
	ids := make([]string, tasks)
	for i := range ids {
		info, err := client.Enqueue(asynq.NewTask(producer.TypeResourceChange, payload, asynq.Queue(producer.QueueAppPlatform)))
		require.NoError(t, err)
		ids[i] = info.ID
	}
	deadline := time.Now().Add(5 * time.Minute)
	for _, id := range ids {
		for {
			info, err := insp.GetTaskInfo(producer.QueueAppPlatform, id)
			require.NoError(t, err)
			if info.State == asynq.TaskStateArchived {
				require.Equal(t, "payload: 10485760 bytes is over the limit of 1048576 (MAX_PAYLOAD_BYTES)", info.LastErr)
				require.Zero(t, info.Retried, "archived at once")
				break
			}
			require.True(t, time.Now().Before(deadline), "task %s still %s", id, info.State)
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	}
	archived := procStatusKB(t, pid, "VmHWM")
	report := func(when string, kb int64) int64 {
		growth := (kb - before) << 10
		t.Logf("worker peak RSS %d MB at start, %d MB %s: growth %.2f× the %d MB of tasks",
			before>>10, kb>>10, when, float64(growth)/float64(tasks*taskBytes), tasks*taskBytes>>20)
		return growth
	}
	require.LessOrEqual(t, report("after archiving them", archived), int64(2*tasks*taskBytes), "peak RSS grew more than twice the tasks' bytes")

	resp, err := http.Get("http://" + httpAddr + "/monitoring/api/queues/" + producer.QueueAppPlatform + "/archived_tasks?page=1&size=20")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body[:min(len(body), 300)])
	require.Less(t, len(body), 200<<10, "the queue UI sends payloads whole")
	require.Equal(t, tasks, strings.Count(string(body), "(10485760 bytes; the first 4096 shown)"))
	listed := procStatusKB(t, pid, "VmHWM")
	require.LessOrEqual(t, report("after listing them in the queue UI", listed), int64(4*tasks*taskBytes), "peak RSS grew more than four times the tasks' bytes")
	require.Less(t, len(w.logs()), 1<<20, "the worker logged the payloads")
}

// procStatusKB reads a kB field of /proc/<pid>/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
