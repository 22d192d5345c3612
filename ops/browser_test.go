package ops_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/embedded"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/tasks"
)

// TestMonitoringUIInChromium opens the queue UI in headless Chromium against
// the embedded Redis (miniredis, as on a first run) holding tasks in both
// queues, checks that the rendered page lists them, and saves a screenshot
// to artifacts/monitoring.png. It skips when chromium is not installed
// (.ci/run installs it).
func TestMonitoringUIInChromium(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH (apt-get install -y chromium); the queue UI is not checked in a browser")
	}
	emb, err := embedded.StartRedis("127.0.0.1:0", 100*time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(emb.Close)
	rdb := redis.NewClient(&redis.Options{Addr: emb.Addr()})
	t.Cleanup(func() { rdb.Close() })

	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	for range 3 {
		task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: 1, Event: "issue.created"})
		require.NoError(t, err)
		_, err = client.Enqueue(task)
		require.NoError(t, err)
	}
	_, err = client.Enqueue(asynq.NewTask(tasks.TypeSendEmail, []byte(`{}`)), asynq.Queue(tasks.QueueEmail))
	require.NoError(t, err)

	pg := testenv.NewPostgres(t)
	url := startServer(t, ops.Options{Redis: rdb, RedisURL: emb.URL(), PingDB: ops.PingGorm(pg.DB), Gatherer: metrics.New().Registry})

	// The UI's API, which the page calls, sees both queues.
	api := get(t, url+"/monitoring/api/queues", "")
	require.Equal(t, 200, api.code, api.body)
	var listed struct {
		Queues []struct {
			Queue   string `json:"queue"`
			Pending int    `json:"pending"`
		} `json:"queues"`
	}
	require.NoError(t, json.Unmarshal([]byte(api.body), &listed))
	pending := map[string]int{}
	for _, q := range listed.Queues {
		pending[q.Queue] = q.Pending
	}
	require.Equal(t, map[string]int{tasks.QueueAppPlatform: 3, tasks.QueueEmail: 1}, pending)

	// The page as a browser renders it, after its API calls.
	dom := runChromium(t, chromium, "--dump-dom", url+"/monitoring/")
	for _, q := range []string{tasks.QueueAppPlatform, tasks.QueueEmail} {
		require.Regexp(t, regexp.MustCompile(`>\s*`+q+`\s*<`), dom, "the rendered queue table does not show %s", q)
	}

	shotDir := filepath.Join("..", "artifacts")
	require.NoError(t, os.MkdirAll(shotDir, 0o755))
	shot, err := filepath.Abs(filepath.Join(shotDir, "monitoring.png"))
	require.NoError(t, err)
	os.Remove(shot)
	runChromium(t, chromium, "--screenshot="+shot, url+"/monitoring/")
	st, err := os.Stat(shot)
	require.NoError(t, err, "chromium wrote no screenshot")
	require.Greater(t, st.Size(), int64(10_000), "the screenshot is suspiciously small")
	t.Logf("screenshot of the queue UI: %s", shot)
}

// runChromium runs headless Chromium on one page and returns its stdout.
// Host names other than 127.0.0.1 do not resolve, so the page's web-font
// links (fonts.googleapis.com) never leave the machine.
func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--no-pings", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=5000",
	}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "chromium %v failed:\n%s", args, stderr)
	return string(out)
}
