package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisProcess is one redis-server (data node or Sentinel) a test started.
type RedisProcess struct {
	// Addr is its host:port on loopback.
	Addr string
	// Log is its log file, shown when it fails to come up.
	Log string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Kill stops the process with SIGKILL (a crash, for failover tests) and
// waits for it to exit. Killing a process twice is harmless.
func (p *RedisProcess) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile
		<-p.done
	}
}

// RedisCluster is a throwaway Redis Cluster of three masters (no replicas)
// on loopback, stopped at the end of the test.
type RedisCluster struct {
	// Nodes are the three masters, in the order their slots were assigned.
	Nodes []*RedisProcess
}

// URL returns the cluster's REDIS_URL, redis-cluster://n1,n2,n3.
func (c *RedisCluster) URL() string {
	return "redis-cluster://" + strings.Join(c.Addrs(), ",")
}

// Addrs returns the nodes' addresses, the seed list of a ClusterClient.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// NewRedisCluster starts three `redis-server --cluster-enabled yes` on free
// ports, joins them with `redis-cli --cluster create … --cluster-yes` and
// waits until every node reports cluster_state:ok. It skips the test when
// redis-server or redis-cli is not installed.
func NewRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	needBinaries(t, "redis-server", "redis-cli")
	dir := t.TempDir()
	c := &RedisCluster{}
	for i := range 3 {
		port := freeClusterPort(t)
		c.Nodes = append(c.Nodes, startRedisProcess(t, dir, fmt.Sprintf("cluster-%d", i),
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-node-timeout", "2000"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		waitFor(t, ctx, n, "cluster_state:ok", func(rdb *redis.Client) (bool, error) {
			info, err := rdb.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok"), err
		})
	}
	return c
}

// RedisSentinel is a throwaway Redis with Sentinel on loopback: a master, one
// replica and three Sentinels watching the master under MasterName, stopped
// at the end of the test.
type RedisSentinel struct {
	// MasterName is the name the Sentinels know the master by.
	MasterName string
	// Master and Replica are the data nodes as started (after a failover
	// the replica is the master).
	Master, Replica *RedisProcess
	// Sentinels are the three Sentinel processes.
	Sentinels []*RedisProcess
}

// URL returns the setup's REDIS_URL, redis-sentinel://s1,s2,s3/0?master=NAME.
func (s *RedisSentinel) URL() string {
	return fmt.Sprintf("redis-sentinel://%s/0?master=%s", strings.Join(s.SentinelAddrs(), ","), s.MasterName)
}

// SentinelAddrs returns the Sentinels' addresses, for a FailoverClient.
func (s *RedisSentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr
	}
	return addrs
}

// NewRedisSentinel starts a master, a replica of it and three
// `redis-server --sentinel` (quorum 2, the master judged down after 1 s),
// and waits until the replica is in sync and every Sentinel knows the
// replica and the two other Sentinels, so a failover can happen. It skips
// the test when redis-server is not installed.
func NewRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	needBinaries(t, "redis-server")
	dir := t.TempDir()
	s := &RedisSentinel{MasterName: "hookworker"}
	data := func(name string, extra ...string) *RedisProcess {
		args := append([]string{"--port", strconv.Itoa(freePort(t)), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, extra...)
		return startRedisProcess(t, dir, name, args...)
	}
	s.Master = data("master")
	host, port, _ := net.SplitHostPort(s.Master.Addr)
	s.Replica = data("replica", "--replicaof", host, port)
	for i := range 3 {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
			freePort(t), dir, s.MasterName, host, port, s.MasterName, s.MasterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("testenv: write %s: %v", conf, err)
		}
		s.Sentinels = append(s.Sentinels, startRedisProcess(t, dir, fmt.Sprintf("sentinel-%d", i), conf, "--sentinel"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitFor(t, ctx, s.Replica, "master_link_status:up", func(rdb *redis.Client) (bool, error) {
		info, err := rdb.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up"), err
	})
	for _, sn := range s.Sentinels {
		waitFor(t, ctx, sn, "a Sentinel that knows the replica and two other Sentinels", func(rdb *redis.Client) (bool, error) {
			m, err := rdb.Do(ctx, "SENTINEL", "MASTER", s.MasterName).Result()
			if err != nil {
				return false, err
			}
			fields := sentinelFields(m)
			return fields["num-slaves"] == "1" && fields["num-other-sentinels"] == "2" && fields["flags"] == "master", nil
		})
	}
	return s
}

// sentinelFields turns the reply of SENTINEL MASTER (a flat list under
// RESP2, a map under RESP3) into a map.
func sentinelFields(reply any) map[string]string {
	out := map[string]string{}
	switch v := reply.(type) {
	case []any:
		for i := 0; i+1 < len(v); i += 2 {
			out[fmt.Sprint(v[i])] = fmt.Sprint(v[i+1])
		}
	case map[any]any:
		for k, val := range v {
			out[fmt.Sprint(k)] = fmt.Sprint(val)
		}
	}
	return out
}

// needBinaries skips t when one of the programs is not on PATH.
func needBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("testenv: %s is not on PATH (apt-get install redis-server redis-tools)", n)
		}
	}
}

// startRedisProcess runs redis-server with args (its log in dir/name.log),
// waits until it answers PING, and kills it at cleanup.
func startRedisProcess(t testing.TB, dir, name string, args ...string) *RedisProcess {
	t.Helper()
	logFile := filepath.Join(dir, name+".log")
	args = append(args, "--logfile", logFile)
	if !contains(args, "--dir") {
		args = append(args, "--dir", dir)
	}
	port := ""
	for i, a := range args {
		if a == "--port" && i+1 < len(args) {
			port = args[i+1]
		}
	}
	if port == "" { // a Sentinel: the port is in its config file, args[0]
		if conf, err := os.ReadFile(args[0]); err == nil {
			fmt.Sscanf(string(conf), "port %s", &port)
		}
	}
	cmd := exec.Command("redis-server", args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server (%s): %v", name, err)
	}
	p := &RedisProcess{Addr: net.JoinHostPort("127.0.0.1", port), Log: logFile, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }() //nolint:errcheck // killed at cleanup
	t.Cleanup(p.Kill)

	rdb := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	deadline := time.Now().Add(20 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		select {
		case <-p.done:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("testenv: redis-server (%s) exited: %s%s", name, stderr.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("testenv: redis-server (%s) on %s did not answer in 20 s: %s", name, p.Addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// waitFor polls ok on a client of p until it says true or ctx ends.
func waitFor(t testing.TB, ctx context.Context, p *RedisProcess, what string, ok func(*redis.Client) (bool, error)) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, Protocol: 2})
	defer rdb.Close()
	var last error
	for {
		done, err := ok(rdb)
		if done {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(p.Log)
			t.Fatalf("testenv: %s never reported %s (last error %v); its log:\n%s", p.Addr, what, last, log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freeClusterPort returns a free port p whose cluster bus port p+10000 is
// free too.
func freeClusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := freePort(t)
		if p+10000 > 65535 {
			continue
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000))); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatalf("testenv: no free port pair p, p+10000 for a cluster node")
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
