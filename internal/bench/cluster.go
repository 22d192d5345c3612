package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/redisconn"
	"github.com/hookworker/hookworker/tasks"
)

// clusterNodes is how many masters the throwaway cluster has (no replicas):
// the smallest cluster redis-cli creates.
const clusterNodes = 3

// redisCluster is a throwaway Redis Cluster of clusterNodes masters owned by
// the benchmark (Options.RedisCluster): the same start as the tests'
// internal/testenv, without the testing package.
type redisCluster struct {
	url   string
	nodes []*redisServer
}

// startRedisCluster runs clusterNodes `redis-server --cluster-enabled yes`
// on free loopback ports in dir, joins them with `redis-cli --cluster
// create` and waits until every node reports cluster_state:ok.
func startRedisCluster(ctx context.Context, dir string) (c *redisCluster, err error) {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s is not on PATH (install redis-server and redis-tools) for --redis cluster: %w", bin, err)
		}
	}
	c = &redisCluster{}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	var addrs []string
	for i := range clusterNodes {
		port, err := freeClusterPort()
		if err != nil {
			return nil, err
		}
		nodeDir := filepath.Join(dir, fmt.Sprintf("cluster-%d", i))
		s, err := startRedisProcess(ctx, nodeDir, port, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		if err != nil {
			return nil, fmt.Errorf("cluster node %d: %w", i, err)
		}
		c.nodes = append(c.nodes, s)
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(cctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a, Protocol: 2})
		for {
			info, err := rdb.ClusterInfo(cctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if cctx.Err() != nil {
				rdb.Close()
				return nil, fmt.Errorf("cluster node %s never reported cluster_state:ok (last error %v)", a, err)
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
		rdb.Close()
	}
	c.url = "redis-cluster://" + strings.Join(addrs, ",")
	return c, nil
}

// startRedisProcess runs redis-server on port in dir (created), without
// persistence, with extra arguments, and waits until it answers.
func startRedisProcess(ctx context.Context, dir string, port int, extra ...string) (*redisServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	logFile := filepath.Join(dir, "redis.log")
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logFile, "--daemonize", "no"}, extra...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &redisServer{url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd, done: make(chan error, 1), log: logFile}
	go func() { s.done <- cmd.Wait() }()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-s.done:
			return nil, fmt.Errorf("redis-server exited (%v): %s", werr, tail(logFile, 5))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("redis-server on port %d did not answer: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// stop stops every node.
func (c *redisCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// freeClusterPort returns a free loopback port p whose cluster bus port
// p+10000 is free too.
func freeClusterPort() (int, error) {
	for range 100 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if p+10000 > 65535 {
			continue
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000))); err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port pair p, p+10000 for a cluster node")
}

// plainDialer gives u go-redis's own dialer, which probes a pooled
// connection with a syscall before every command: the reference drains and
// the producer are plain asynq clients, not hookworker's (redisconn's
// connections skip that probe).
func plainDialer(u *redis.UniversalOptions) {
	u.Dialer = redis.NewDialer(&redis.Options{DialTimeout: 5 * time.Second, TLSConfig: u.TLSConfig})
}

// newRedisClient returns a client for a bench Redis URL of any mode
// (redis://, redis-sentinel://, redis-cluster://), made as the worker makes
// its own (RESP2), with tune applied.
func newRedisClient(url string, tune func(*redis.UniversalOptions)) (redis.UniversalClient, error) {
	o, err := redisconn.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	return redisconn.NewClient(o, tune), nil
}

// observerClients returns the benchmark's plain clients of the Redis at
// url, each with one connection: queue, the node that holds asynq's
// app_platform keys (the URL's node itself unless it is a cluster), and
// nodes, every master, whose counters are summed and which are flushed
// between phases.
func observerClients(ctx context.Context, url string) (queue *redis.Client, nodes []*redis.Client, err error) {
	o, err := redisconn.Parse(url)
	if err != nil {
		return nil, nil, fmt.Errorf("redis URL: %w", err)
	}
	one := func(u *redis.UniversalOptions) { u.PoolSize = 1 }
	if o.Mode() != redisconn.Cluster {
		c, ok := redisconn.NewClient(o, one).(*redis.Client)
		if !ok {
			return nil, nil, fmt.Errorf("redis URL %s: not a single-node client", o)
		}
		return c, []*redis.Client{c}, nil
	}
	cc, ok := redisconn.NewClient(o, one).(*redis.ClusterClient)
	if !ok {
		return nil, nil, fmt.Errorf("redis URL %s: not a cluster client", o)
	}
	defer cc.Close()
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("redis CLUSTER SLOTS: %w", err)
	}
	queueSlot, err := cc.ClusterKeySlot(ctx, "asynq:{"+tasks.QueueAppPlatform+"}:pending").Result()
	if err != nil {
		return nil, nil, fmt.Errorf("redis CLUSTER KEYSLOT: %w", err)
	}
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: s.Nodes[0].Addr, PoolSize: 1, Protocol: 2})
		nodes = append(nodes, c)
		if int64(s.Start) <= queueSlot && queueSlot <= int64(s.End) {
			queue = c
		}
	}
	if queue == nil {
		for _, c := range nodes {
			c.Close()
		}
		return nil, nil, fmt.Errorf("no node of %s owns slot %d of the app_platform queue", o, queueSlot)
	}
	return queue, nodes, nil
}

// sumRedisCounters reads and adds the counters of every node.
func sumRedisCounters(ctx context.Context, nodes []*redis.Client) (redisCounters, error) {
	var sum redisCounters
	for _, n := range nodes {
		c, err := readRedisCounters(ctx, n)
		if err != nil {
			return sum, err
		}
		sum.commands += c.commands
		sum.reads += c.reads
		sum.cpu += c.cpu
	}
	return sum, nil
}
