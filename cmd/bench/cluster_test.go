package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/bench"
)

// TestQuickRunCluster runs the --quick benchmark on its own 3-master Redis
// Cluster (--redis cluster): the worker gets a redis-cluster:// URL and
// every phase, which flushes and meters every master, still measures.
func TestQuickRunCluster(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH", bin)
		}
	}
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return os.Getenv("TEST_DATABASE_URL")
		}
		return os.Getenv(k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--redis", "cluster", "--quick", "--json", "--n", "500", "--bulk-tasks", "500", "--latency-rate", "500"},
		getenv, &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "started a 3-master Redis Cluster at redis-cluster://")

	var rep bench.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), "stdout:\n%s", stdout.String())
	require.True(t, strings.HasPrefix(rep.Settings.Redis, "redis-cluster://"), "settings: %+v", rep.Settings)
	require.Len(t, rep.Rounds, 1)
	r := rep.Rounds[0]
	require.Positive(t, r.BarePOST.PerSecond)
	require.Positive(t, r.EndToEnd.PerSecond)
	require.Positive(t, r.EndToEnd.RedisReads, "the masters' counters are summed")
	require.Positive(t, r.Latency.P99Millis)
	require.Equal(t, 1000, r.Deliveries)
	require.Positive(t, r.BulkEnqueuePerS, "`enqueue bulk` on the cluster URL")
	require.Positive(t, r.IngestBatchPerS)
}

// TestRedisFlag refuses a topology bench cannot start.
func TestRedisFlag(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--redis", "sentinel"}, func(string) string { return "" }, &out, &errOut)
	require.EqualError(t, err, `--redis "sentinel": want single or cluster`)
}
