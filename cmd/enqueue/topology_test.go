package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/producer"
	"github.com/hookworker/hookworker/redisconn"
)

// resource-change and bulk write into a Sentinel-watched master and into
// a cluster, and say which (the redacted URL).
func TestTopologies(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	c := testenv.NewRedisCluster(t)
	for name, raw := range map[string]string{
		"sentinel": s.URL(),
		"cluster":  c.URL(),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.RedisURL = raw
			o, err := redisconn.Parse(raw)
			require.NoError(t, err)
			e := noEnv(t)
			e.retryWindow = 5 * time.Second

			var stdout, stderr bytes.Buffer
			require.NoError(t, resourceChange(cfg, e, []string{"--installation-id", "3", "--event", "issue.created", "--no-check"}, nil, &stdout, &stderr))
			id := strings.TrimSpace(stdout.String())
			require.Contains(t, stderr.String(), fmt.Sprintf("enqueue: wrote task %s to redis at %s (REDIS_URL)\n", id, o))

			rdb := redisconn.NewClient(o, nil)
			defer rdb.Close()
			insp := asynq.NewInspectorFromRedisClient(rdb)
			info, err := insp.GetTaskInfo(producer.QueueAppPlatform, id)
			require.NoError(t, err, "the task landed")
			require.Equal(t, asynq.TaskStatePending, info.State)

			require.NotContains(t, stderr.String(), "warning", "on Sentinel the replica acknowledged the task")

			stdout.Reset()
			stderr.Reset()
			in := strings.NewReader(`{"installation_id":1,"event":"issue.created"}` + "\n" + `{"installation_id":2,"event":"issue.created"}` + "\n")
			require.NoError(t, bulk(cfg, e, []string{"--workers", "2"}, in, &stdout, &stderr))
			require.NotContains(t, stderr.String(), "warning")
			require.Contains(t, stdout.String(), "enqueued 2 tasks")
			require.Contains(t, stdout.String(), "to redis at "+o.String())
			q, err := insp.GetQueueInfo(producer.QueueAppPlatform)
			require.NoError(t, err)
			require.Equal(t, 3, q.Pending)
		})
	}
}

// On Sentinel, enqueue waits for a replica to have the task (replication
// is asynchronous) and warns when none acknowledges it: a failover then
// could lose it. The task is enqueued all the same.
func TestSentinelReplicaWarning(t *testing.T) {
	t.Parallel()
	s := testenv.NewRedisSentinel(t)
	s.Replica.Kill()
	cfg := config.Defaults()
	cfg.RedisURL = s.URL()
	e := noEnv(t)
	e.retryWindow = 5 * time.Second
	var stdout, stderr bytes.Buffer
	start := time.Now()
	require.NoError(t, resourceChange(cfg, e, []string{"--installation-id", "3", "--event", "issue.created", "--no-check"}, nil, &stdout, &stderr))
	require.GreaterOrEqual(t, time.Since(start), replicaWait, "it waited for a replica")
	require.Contains(t, stderr.String(), "enqueue: warning: no replica acknowledged the tasks within 5s; a failover now could lose them\n")
	require.NotEmpty(t, strings.TrimSpace(stdout.String()), "the task id is printed")
}

// With REDIS_URL's Redis down, enqueue retries for its window and then
// fails naming the Redis, without the password.
func TestRetriesThenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := config.Defaults()
	cfg.RedisURL = "redis-cluster://:hunter2secret@" + addr
	e := noEnv(t)
	e.retryWindow = time.Second
	start := time.Now()
	err = resourceChange(cfg, e, []string{"--installation-id", "3", "--event", "issue.created", "--no-check"}, nil, io.Discard, io.Discard)
	require.ErrorContains(t, err, "redis at redis-cluster://:***@"+addr+" (REDIS_URL) does not answer after ")
	require.NotContains(t, err.Error(), "hunter2secret")
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "it retried")
	require.Less(t, time.Since(start), 15*time.Second, "for a bounded time")
}

// When Redis goes away in the middle of `enqueue bulk`, the lines after it
// are retried for one window, then every one of them is reported and the
// command fails: nothing is lost without a word.
func TestBulkRedisGoneMidway(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	cfg := config.Defaults()
	cfg.RedisURL = c.URL()
	e := noEnv(t)
	e.retryWindow = time.Second
	o, err := redisconn.Parse(cfg.RedisURL)
	require.NoError(t, err)
	rdb := redisconn.NewClient(o, nil)
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)

	in, feed := io.Pipe()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- bulk(cfg, e, []string{"--workers", "2"}, in, &stdout, &stderr) }()
	_, err = fmt.Fprintln(feed, `{"installation_id":1,"event":"issue.created"}`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		q, err := insp.GetQueueInfo(producer.QueueAppPlatform)
		return err == nil && q.Pending == 1
	}, 10*time.Second, 10*time.Millisecond, "the first line was enqueued")
	for _, n := range c.Nodes {
		n.Kill()
	}
	start := time.Now()
	for range 4 {
		_, err = fmt.Fprintln(feed, `{"installation_id":2,"event":"issue.created"}`)
		require.NoError(t, err)
	}
	require.NoError(t, feed.Close())
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bulk did not give up")
	}
	require.EqualError(t, err, "4 of 5 lines not enqueued")
	require.Less(t, time.Since(start), 15*time.Second)
	require.Contains(t, stdout.String(), "enqueued 1 tasks")
	for n := 2; n <= 5; n++ {
		require.Contains(t, stderr.String(), fmt.Sprintf("line %d: ", n))
	}
}
