package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a throwaway redis-server owned by the benchmark, so the
// figures are not disturbed by (and do not disturb) the shared Redis.
type redisServer struct {
	url  string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// startRedisServer runs redis-server from PATH on a free loopback port in
// dir, without persistence, and waits until it answers.
func startRedisServer(ctx context.Context, dir string) (*redisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redis-server is not on PATH (install it, or pass --redis-url): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startRedisProcess(ctx, dir, port)
}

// stop terminates the server and waits for it.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// redisCounters are Redis's cumulative server-wide counters.
type redisCounters struct {
	// commands counts commands, including those called inside Lua scripts.
	commands int64
	// reads counts read events on client sockets: one per request or
	// pipeline a client sends (plus one per closed connection), i.e. round
	// trips.
	reads int64
	// cpu is the server's user+system CPU time.
	cpu time.Duration
}

// sub returns c − o.
func (c redisCounters) sub(o redisCounters) redisCounters {
	return redisCounters{commands: c.commands - o.commands, reads: c.reads - o.reads, cpu: c.cpu - o.cpu}
}

// readRedisCounters reads INFO stats and cpu.
func readRedisCounters(ctx context.Context, rdb *redis.Client) (redisCounters, error) {
	s, err := rdb.Info(ctx, "stats", "cpu").Result()
	if err != nil {
		return redisCounters{}, fmt.Errorf("redis INFO: %w", err)
	}
	return parseRedisInfo(s)
}

// parseRedisInfo extracts the counters from INFO's text.
func parseRedisInfo(s string) (redisCounters, error) {
	var c redisCounters
	var cpuUser, cpuSys float64
	found := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "total_commands_processed":
			c.commands, err = strconv.ParseInt(v, 10, 64)
		case "total_reads_processed":
			c.reads, err = strconv.ParseInt(v, 10, 64)
		case "used_cpu_user":
			cpuUser, err = strconv.ParseFloat(v, 64)
		case "used_cpu_sys":
			cpuSys, err = strconv.ParseFloat(v, 64)
		default:
			continue
		}
		if err != nil {
			return c, fmt.Errorf("redis INFO %s: %q: %w", k, v, err)
		}
		found++
	}
	if found < 4 {
		return c, errors.New("redis INFO lacks total_commands_processed, total_reads_processed or used_cpu_* (Redis ≥ 6 is needed)")
	}
	c.cpu = time.Duration((cpuUser + cpuSys) * float64(time.Second))
	return c, nil
}

// queueEmpty reports whether a queue has no pending and no active task,
// with two plain commands (the Inspector runs scripts that would disturb
// the counters).
func queueEmpty(ctx context.Context, rdb *redis.Client, queue string) (bool, error) {
	pipe := rdb.Pipeline()
	p := pipe.LLen(ctx, "asynq:{"+queue+"}:pending")
	a := pipe.LLen(ctx, "asynq:{"+queue+"}:active")
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("queue %s length: %w", queue, err)
	}
	return p.Val() == 0 && a.Val() == 0, nil
}

func errQueueNotEmpty(queue string, timeout time.Duration) error {
	return fmt.Errorf("queue %s still has tasks after %s", queue, timeout)
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
