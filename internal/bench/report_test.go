package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func sampleRound(ceiling, e2e float64) Round {
	return Round{
		Ceiling:   Drain{Tasks: 1000, PerSecond: ceiling, RedisReads: 2200, RedisCommands: 14500, RedisCPUSeconds: 0.06},
		BarePOST:  Drain{Tasks: 1000, PerSecond: ceiling * 0.8},
		BarePOST8: Drain{Tasks: 1000, PerSecond: ceiling},
		EndToEnd:  Drain{Tasks: 1000, PerSecond: e2e, RedisReads: 3200, RedisCommands: 19500, RedisCPUSeconds: 0.1, WorkerCPUSeconds: 0.4},
		Latency:   Latency{Offered: 1000, P50Millis: 20, P95Millis: 40, P99Millis: 60},
		Dead:      Drain{Tasks: 900, PerSecond: e2e / 2}, SQLTransactions: 2000, Deliveries: 2000,
		PeakRSSBytes: 50 << 20, SingleEnqueuePerS: 4000, BulkEnqueuePerS: 14000,
		Sched: Sched{OneApp: Drain{Tasks: 1000, PerSecond: e2e * 0.95}, BurstAloneSeconds: 0.4, BurstSeconds: 0.5,
			HealthyDeferred: map[string]float64{"end_to_end": 0, "burst": 3}, IdleCommandsPerS: 80, IdleWorkerCPU: 0.005,
			Idle8RedisCPU: 0.03, Idle8ServerRows: 2, LoneP50Millis: 30, LoneP99Millis: 90},
	}
}

func TestSummarizeMediansRatiosAndTargets(t *testing.T) {
	t.Parallel()
	rep := &Report{Settings: Settings{N: 1000, Rounds: 3}, Rounds: []Round{
		sampleRound(8000, 4000), sampleRound(6000, 4200), sampleRound(10000, 7000),
	}}
	rep.summarize()
	fig := map[string]Figure{}
	for _, f := range rep.Figures {
		fig[f.Key] = f
	}
	e2e := fig["end_to_end"]
	require.Equal(t, 4200.0, e2e.Value)
	require.Equal(t, 4000.0, e2e.Min)
	require.Equal(t, 7000.0, e2e.Max)
	// Per-round ratios 0.5, 0.7, 0.7: the median of ratios, not the ratio of medians.
	require.InDelta(t, 0.7, *e2e.RatioToCeiling, 1e-9)
	require.True(t, *e2e.Met, "0.70 of the ceiling meets ≥ 0.60")

	require.False(t, *fig["latency_p99"].Met, "60 ms misses ≤ 25 ms")
	require.Nil(t, fig["latency_p50"].Met, "no target, no verdict")
	require.InDelta(t, 1.0, fig["redis_rt_beyond_asynq"].Value, 1e-9)
	require.True(t, *fig["redis_rt_beyond_asynq"].Met)
	require.InDelta(t, 1.0, fig["sql_per_delivery"].Value, 1e-9)
	require.True(t, *fig["sql_per_delivery"].Met)
	require.InDelta(t, 0.875, fig["end_to_end_vs_bare_post"].Value, 1e-9, "median of 0.625, 0.875, 0.875")
	require.InDelta(t, 0.7, fig["end_to_end_vs_bare_post_8"].Value, 1e-9)
	require.False(t, *fig["end_to_end_vs_bare_post_8"].Met, "0.70 misses ≥ 0.85")
	require.InDelta(t, 0.95, fig["one_app_vs_end_to_end"].Value, 1e-9)
	require.True(t, *fig["one_app_vs_end_to_end"].Met)
	require.InDelta(t, 1.25, fig["burst_ratio"].Value, 1e-9)
	require.True(t, *fig["burst_ratio"].Met)
	require.Equal(t, 3.0, fig["healthy_deferred"].Value, "the worst scenario counts")
	require.False(t, *fig["healthy_deferred"].Met)
	require.InDelta(t, 0.5, fig["idle_worker_cpu"].Value, 1e-9, "in % of a core")
	for _, k := range []string{"idle_redis_commands", "idle_worker_cpu", "idle8_redis_cpu", "idle_server_rows", "lone_p50", "lone_p99"} {
		require.True(t, *fig[k].Met, k)
	}
	require.InDelta(t, 3.5, fig["bulk_vs_single"].Value, 1e-9)
	require.True(t, *fig["bulk_vs_single"].Met)
	require.False(t, *fig["dead_vs_end_to_end"].Met, "half the throughput misses ≥ 0.80")
	require.InDelta(t, 100.0, fig["redis_cpu_end_to_end"].Value, 1e-9, "ms of Redis CPU per 1,000 deliveries")

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	out := table.String()
	require.Contains(t, out, "hookworker end to end")
	require.Contains(t, out, "4200 deliveries/s [4000–7000]")
	require.Contains(t, out, "NO")
	require.Contains(t, out, "CPU (cores")
	require.True(t, strings.HasSuffix(out, "\n"))

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Len(t, back.Figures, len(rep.Figures))
	require.Len(t, back.Rounds, 3)
}
