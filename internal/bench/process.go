package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// goTool returns the go command: from PATH, else from this program's GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// moduleRoot returns the directory of the go.mod governing the working
// directory, where ./cmd/... builds.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the hookworker module: run the benchmark from the repository (make bench)")
	}
	return filepath.Dir(gomod), nil
}

// buildCommands builds ./cmd/worker and ./cmd/enqueue into dir and returns
// their paths.
func buildCommands(ctx context.Context, dir string) (workerBin, enqueueBin string, err error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", dir+string(filepath.Separator), "./cmd/worker", "./cmd/enqueue")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/worker ./cmd/enqueue: %w\n%s", err, out)
	}
	return filepath.Join(dir, "worker"), filepath.Join(dir, "enqueue"), nil
}

// withEnv returns base with each KEY=VALUE of overrides replacing an
// earlier one of the same key.
func withEnv(base []string, overrides ...string) []string {
	keys := map[string]bool{}
	for _, o := range overrides {
		k, _, _ := strings.Cut(o, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(base)+len(overrides))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, overrides...)
}

// workerProcess is a running `worker` binary.
type workerProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
	log  string
}

// startWorker runs the worker binary with env, its output in logFile.
func startWorker(bin string, env []string, logFile string) (*workerProcess, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("worker log: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &workerProcess{cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() {
		w.err = cmd.Wait()
		f.Close()
		close(w.done)
	}()
	return w, nil
}

// pid returns the process id.
func (w *workerProcess) pid() int { return w.cmd.Process.Pid }

// exited returns a channel that yields an error if the worker exits before
// it is stopped.
func (w *workerProcess) exited() <-chan error {
	ch := make(chan error, 1)
	go func() {
		<-w.done
		ch <- fmt.Errorf("worker exited early (%v): %s", w.err, tail(w.log, 10))
	}()
	return ch
}

// stop sends SIGTERM and waits for a graceful exit, killing the worker
// after timeout.
func (w *workerProcess) stop(timeout time.Duration) error {
	select {
	case <-w.done:
		return fmt.Errorf("worker had already exited (%v): %s", w.err, tail(w.log, 10))
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
		if w.err != nil {
			return fmt.Errorf("worker exited with %v: %s", w.err, tail(w.log, 10))
		}
		return nil
	case <-time.After(timeout):
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("worker did not stop within %s of SIGTERM; killed", timeout)
	}
}

// runCommand runs bin with args, env and stdin, returning stdout, and the
// wall time it took.
func runCommand(ctx context.Context, bin string, args, env []string, stdin []byte) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return stdout.String(), elapsed, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return stdout.String(), elapsed, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
