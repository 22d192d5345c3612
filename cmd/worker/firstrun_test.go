package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/webhook"
)

// TestFirstRun is the newcomer's first run, with the real binaries: `worker`
// with nothing configured (embedded Redis, SQLite file in the working
// directory), `worker seed` writing to that SQLite file while the worker
// runs, `enqueue` into the embedded Redis, a signed delivery to a local
// receiver, the operator endpoints on the way, and a clean exit on SIGTERM.
func TestFirstRun(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	dir := t.TempDir()
	redisAddr, httpAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	env := cleanEnv("EMBEDDED_REDIS_ADDR="+redisAddr, "HTTP_ADDR="+httpAddr, "WEBHOOK_ALLOW_PRIVATE=true")
	base := "http://" + httpAddr

	hooks := make(chan capturedRequest, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hooks <- capturedRequest{header: r.Header.Clone(), body: body, path: r.URL.Path}
	}))
	t.Cleanup(receiver.Close)

	w := startProcess(t, dir, env, filepath.Join(bin, "worker"))
	waitReady(t, w, base+"/readyz")
	require.FileExists(t, filepath.Join(dir, models.EmbeddedDatabaseFile), "the embedded database lives in the working directory")

	// seed writes the SQLite file the running worker has open.
	out := runCommand(t, dir, env, filepath.Join(bin, "worker"), "seed", "--webhook-url", receiver.URL+"/hook")
	var seed models.SeedResult
	require.NoError(t, json.Unmarshal([]byte(out), &seed), "seed prints one JSON object: %s", out)
	require.NotEmpty(t, seed.ClientSecret)

	taskID := strings.TrimSpace(runCommand(t, dir, env, filepath.Join(bin, "enqueue"), "resource-change",
		"--installation-id", fmt.Sprint(seed.InstallationID), "--event", "issue.created", "--data", `{"issue":{"id":"42"}}`))
	require.NotEmpty(t, taskID)

	select {
	case got := <-hooks:
		require.Equal(t, "/hook", got.path)
		require.True(t, webhook.Verify(seed.ClientSecret, got.body, got.header.Get("Sentry-Hook-Signature")),
			"the signature verifies with the printed client_secret")
		require.Equal(t, "issue", got.header.Get("Sentry-Hook-Resource"))
		require.Equal(t, taskID, got.header.Get("Hookworker-Delivery-ID"))
		require.Contains(t, string(got.body), `"id":"42"`)
	case <-time.After(30 * time.Second):
		t.Fatalf("no webhook arrived; worker logs:\n%s", w.logs())
	}

	// The operator endpoints of the running process, on the embedded Redis.
	var metrics string
	if !assert.Eventually(t, func() bool {
		metrics = httpGet(t, base+"/metrics")
		return strings.Contains(metrics, `hookworker_webhook_responses_total{integration="internal",status="200",webhook_event="issue.created"} 1`+"\n") &&
			strings.Contains(metrics, `hookworker_resource_change_processed_total{change_event="issue.created"} 1`+"\n") &&
			strings.Contains(metrics, `asynq_tasks_processed_total{queue="app_platform"} 1`+"\n")
	}, 15*time.Second, 20*time.Millisecond) {
		t.Fatalf("series missing from /metrics after one delivery:\n%s", metrics)
	}
	require.Contains(t, metrics, `asynq_queue_memory_usage_approx_bytes{queue="app_platform"}`, "MEMORY USAGE works on the embedded Redis")
	require.Contains(t, httpGet(t, base+"/monitoring/api/queues"), `"queue":"app_platform"`)
	require.Contains(t, httpGet(t, base+"/monitoring/"), "Asynq - Monitoring")
	require.Equal(t, "ready\n", runCommand(t, dir, env, filepath.Join(bin, "worker"), "healthcheck"))

	// A second worker on the same addresses says what to change.
	for _, c := range []struct{ env, hint string }{
		{"HTTP_ADDR=" + freeLoopbackAddr(t), "REDIS_URL"},
		{"EMBEDDED_REDIS_ADDR=" + freeLoopbackAddr(t), "HTTP_ADDR"},
	} {
		cmd := exec.Command(filepath.Join(bin, "worker"))
		cmd.Dir, cmd.Env = t.TempDir(), append(append([]string(nil), env...), c.env)
		msg, err := cmd.CombinedOutput()
		require.Error(t, err, "a second worker must not start: %s", msg)
		require.Contains(t, string(msg), c.hint)
	}

	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.exited:
		require.NoError(t, w.err, "worker exits 0 on SIGTERM; logs:\n%s", w.logs())
		require.Contains(t, w.logs(), `"msg":"worker.stopped"`)
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not stop within 30s of SIGTERM; logs:\n%s", w.logs())
	}
}

type capturedRequest struct {
	path   string
	header http.Header
	body   []byte
}

// buildBinaries builds worker and enqueue into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", out+string(os.PathSeparator), "./cmd/worker", "./cmd/enqueue")
	cmd.Dir = repoRoot
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", msg)
	return out
}

// cleanEnv is this process's environment without any hookworker setting
// (a developer's REDIS_URL must not leak into the first run), plus extra.
func cleanEnv(extra ...string) []string {
	known := config.Variables()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(known, k) {
			env = append(env, kv)
		}
	}
	return append(append(env, "LOG_FORMAT=json"), extra...)
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// process is a running command whose output is kept for failure messages.
type process struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	err    error
}

func startProcess(t *testing.T, dir string, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = dir, env, p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill() //nolint:errcheck // cleanup after a failure
			<-p.exited
		}
	})
	return p
}

func (p *process) logs() string { return p.out.String() }

// waitReady polls url until it answers 200, failing at once if the process
// exits first.
func waitReady(t *testing.T, p *process, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("worker exited (%v) before it was ready:\n%s", p.err, p.logs())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("%s never answered 200 within 60s:\n%s", url, p.logs())
}

// runCommand runs a command to completion and returns its stdout.
func runCommand(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s %v:\n%s", filepath.Base(name), args, stderr.String())
	return stdout.String()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, b)
	return string(b)
}

// lockedBuffer is a bytes.Buffer safe for a process's two output streams
// and the test reading it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
