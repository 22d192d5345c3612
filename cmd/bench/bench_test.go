package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/bench"
)

// TestQuickRun runs the whole benchmark in --quick mode against its own
// redis-server and the test PostgreSQL, so the command keeps working. It
// checks that every phase measured something, not how fast it was.
func TestQuickRun(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH")
	}
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return os.Getenv("TEST_DATABASE_URL") // scripts/test.sh's server, else the default
		}
		return os.Getenv(k)
	}
	// The run builds ./cmd/worker and ./cmd/enqueue first; beside other
	// packages' tests on a 2-core machine that alone has taken 2 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--quick", "--json", "--n", "500", "--bulk-tasks", "500", "--latency-rate", "500"}, getenv, &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())

	var rep bench.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), "stdout:\n%s", stdout.String())
	require.Len(t, rep.Rounds, 1)
	r := rep.Rounds[0]
	require.Equal(t, 500, r.Ceiling.Tasks)
	require.Positive(t, r.Ceiling.PerSecond)
	require.Positive(t, r.BarePOST.PerSecond)
	require.Positive(t, r.EndToEnd.PerSecond)
	require.Positive(t, r.EndToEnd.RedisReads)
	require.Equal(t, 500, r.Latency.Offered)
	require.Positive(t, r.Latency.P99Millis)
	require.GreaterOrEqual(t, r.Latency.P99Millis, r.Latency.P50Millis)
	require.Equal(t, 450, r.Dead.Tasks, "45 of 50 installations answer")
	require.Positive(t, r.DeadConnections, "the dead endpoint was tried")
	require.Positive(t, r.SQLTransactions, "the worker queried the database")
	require.Equal(t, 1000, r.Deliveries)
	require.Positive(t, r.PeakRSSBytes)
	require.Positive(t, r.SingleEnqueuePerS)
	require.Positive(t, r.BulkEnqueuePerS)

	keys := map[string]bench.Figure{}
	for _, f := range rep.Figures {
		keys[f.Key] = f
	}
	for _, k := range []string{"ceiling", "bare_post", "end_to_end", "end_to_end_vs_bare_post", "latency_p99",
		"dead_vs_end_to_end", "sql_per_delivery", "redis_rt_beyond_asynq", "worker_peak_rss", "bulk_vs_single"} {
		f, ok := keys[k]
		require.True(t, ok, "figure %s is missing", k)
		if k != "redis_rt_beyond_asynq" { // a difference, which may be anything
			require.Positive(t, f.Value, "figure %s", k)
		}
	}
	require.NotNil(t, keys["end_to_end_vs_bare_post"].Met, "a target figure says whether it is met")
	require.InDelta(t, 1.0, *keys["ceiling"].RatioToCeiling, 1e-9)
}

// TestFlagErrors checks that bad flags fail before anything starts.
func TestFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--worker-env", "NOEQUALS"}, {"extra"}, {"--n", "x"}} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		require.Error(t, err, "%v", args)
		require.Empty(t, out.String())
	}
}
