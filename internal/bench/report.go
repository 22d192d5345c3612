package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hookworker/hookworker/config"
)

// Settings record what a run measured with.
type Settings struct {
	N                 int      `json:"n"`
	Rounds            int      `json:"rounds"`
	Concurrency       int      `json:"concurrency"`
	Fetchers          int      `json:"fetchers"`
	TaskCheckInterval string   `json:"task_check_interval"`
	WebhookTimeout    string   `json:"webhook_timeout"`
	Installations     int      `json:"installations"`
	DeadInstallations int      `json:"dead_installations"`
	LatencyRate       int      `json:"latency_rate"`
	LatencyDuration   string   `json:"latency_duration"`
	BulkTasks         int      `json:"bulk_tasks"`
	Redis             string   `json:"redis"`
	OwnRedis          bool     `json:"own_redis_server"`
	Database          string   `json:"database"`
	WorkerEnv         []string `json:"worker_env,omitempty"`
}

func settingsOf(o Options, e *env) Settings {
	return Settings{
		N: o.N, Rounds: o.Rounds, Concurrency: o.Concurrency, Fetchers: o.Fetchers, TaskCheckInterval: o.TaskCheckInterval.String(),
		WebhookTimeout: o.WebhookTimeout.String(), Installations: o.Installations, DeadInstallations: o.DeadInstallations,
		LatencyRate: o.LatencyRate, LatencyDuration: o.LatencyDuration.String(), BulkTasks: o.BulkTasks,
		Redis: config.Redact(e.redisURL), OwnRedis: e.ownRedis, Database: config.Redact(e.db.url), WorkerEnv: o.WorkerEnv,
	}
}

// Figure is one line of the table: the median over rounds of a value, its
// range, its median ratio to the same round's no-op ceiling where that
// means something, and its target.
type Figure struct {
	Key    string    `json:"key"`
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Value  float64   `json:"value"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Rounds []float64 `json:"rounds"`
	// RatioToCeiling is the median of the per-round ratios; absent when it
	// does not apply.
	RatioToCeiling *float64 `json:"ratio_to_ceiling,omitempty"`
	// Target is the performance.md target, empty for context figures.
	Target string `json:"target,omitempty"`
	// Met is absent for figures without a target.
	Met *bool `json:"met,omitempty"`
}

// Report is a run's result: its settings, the raw rounds and the figures.
type Report struct {
	Settings Settings `json:"settings"`
	Rounds   []Round  `json:"rounds"`
	Figures  []Figure `json:"figures"`
}

// target is a threshold a figure's value (or ratio) is held to.
type target struct {
	text    string
	onRatio bool
	ok      func(float64) bool
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }

// figureSpec says how to compute one figure from a round.
type figureSpec struct {
	key, name, unit string
	value           func(Round) float64
	ratio           bool // report value ÷ the round's ceiling
	target          *target
}

// redisRTTolerance is how far above 1 the extra round trips per delivery may
// be and still meet the target: asynq's periodic work (heartbeats,
// forwarders, lease extension) over a longer drain adds a few hundredths.
const redisRTTolerance = 0.1

// sqlTolerance allows for what PostgreSQL counts as transactions without
// being a query of a delivery: each pooled connection's statement
// preparation and pgx's ping of a connection idle for over a second, about
// 4 per connection (32 connections ≈ 0.005 per delivery at N=20000).
const sqlTolerance = 0.05

func figureSpecs() []figureSpec {
	per := func(x int64, n int) float64 { return float64(x) / float64(max(1, n)) }
	perK := func(s float64, n int) float64 { return s * 1000 * 1000 / float64(max(1, n)) } // ms per 1,000
	return []figureSpec{
		{key: "ceiling", name: "no-op ceiling (asynq drain)", unit: "tasks/s", value: func(r Round) float64 { return r.Ceiling.PerSecond }, ratio: true},
		{key: "bare_post", name: "bare-POST floor", unit: "deliveries/s", value: func(r Round) float64 { return r.BarePOST.PerSecond }, ratio: true},
		{key: "bare_post_8", name: "bare-POST floor, 8 asynq servers", unit: "deliveries/s", value: func(r Round) float64 { return r.BarePOST8.PerSecond }, ratio: true},
		{key: "end_to_end", name: "hookworker end to end", unit: "deliveries/s", value: func(r Round) float64 { return r.EndToEnd.PerSecond }, ratio: true,
			target: &target{text: "≥ 0.60 of ceiling", onRatio: true, ok: atLeast(0.60)}},
		{key: "end_to_end_vs_bare_post", name: "end to end ÷ bare-POST floor", unit: "ratio",
			value:  func(r Round) float64 { return r.EndToEnd.PerSecond / r.BarePOST.PerSecond },
			target: &target{text: "≥ 0.80", ok: atLeast(0.80)}},
		{key: "end_to_end_vs_bare_post_8", name: "end to end ÷ bare-POST floor, 8 asynq servers", unit: "ratio",
			value:  func(r Round) float64 { return r.EndToEnd.PerSecond / r.BarePOST8.PerSecond },
			target: &target{text: "≥ 0.85", ok: atLeast(0.85)}},
		{key: "one_app", name: "one busy fast app alone", unit: "deliveries/s", value: func(r Round) float64 { return r.Sched.OneApp.PerSecond }, ratio: true},
		{key: "one_app_vs_end_to_end", name: "  … ÷ end to end over 50 apps", unit: "ratio",
			value:  func(r Round) float64 { return r.Sched.OneApp.PerSecond / r.EndToEnd.PerSecond },
			target: &target{text: "≥ 0.90", ok: atLeast(0.90)}},
		{key: "burst_alone", name: "healthy tasks alone (5,000 over 49 apps)", unit: "s", value: func(r Round) float64 { return r.Sched.BurstAloneSeconds }},
		{key: "burst", name: "  same behind a burst for a hanging app", unit: "s", value: func(r Round) float64 { return r.Sched.BurstSeconds }},
		{key: "burst_ratio", name: "  behind the burst ÷ alone", unit: "ratio",
			value:  func(r Round) float64 { return r.Sched.BurstSeconds / r.Sched.BurstAloneSeconds },
			target: &target{text: "≤ 1.5", ok: atMost(1.5)}},
		{key: "healthy_deferred", name: "healthy deliveries deferred (all scenarios, max)", unit: "",
			value: func(r Round) float64 {
				worst := 0.0
				for _, v := range r.Sched.HealthyDeferred {
					worst = max(worst, v)
				}
				return worst
			},
			target: &target{text: "0", ok: atMost(0)}},
		{key: "idle_redis_commands", name: "idle worker: Redis commands it causes", unit: "/s", value: func(r Round) float64 { return r.Sched.IdleCommandsPerS },
			target: &target{text: "≤ 100/s", ok: atMost(100)}},
		{key: "idle_worker_cpu", name: "idle worker: its CPU", unit: "% of a core", value: func(r Round) float64 { return 100 * r.Sched.IdleWorkerCPU },
			target: &target{text: "≤ 1 %", ok: atMost(1)}},
		{key: "idle8_redis_cpu", name: "8 idle workers: Redis CPU", unit: "% of a core", value: func(r Round) float64 { return 100 * r.Sched.Idle8RedisCPU },
			target: &target{text: "≤ 5 %", ok: atMost(5)}},
		{key: "idle8_redis_commands", name: "  8 idle workers: Redis commands", unit: "/s", value: func(r Round) float64 { return r.Sched.Idle8CommandsPerS }},
		{key: "idle_server_rows", name: "queue UI Servers rows per idle worker", unit: "", value: func(r Round) float64 { return r.Sched.Idle8ServerRows },
			target: &target{text: "≤ 2", ok: atMost(2)}},
		{key: "lone_p50", name: "lone task into an idle worker: enqueue→POST p50", unit: "ms", value: func(r Round) float64 { return r.Sched.LoneP50Millis },
			target: &target{text: "≤ 50 ms", ok: atMost(50)}},
		{key: "lone_p99", name: "  … p99 (100 tasks)", unit: "ms", value: func(r Round) float64 { return r.Sched.LoneP99Millis },
			target: &target{text: "≤ 150 ms", ok: atMost(150)}},
		{key: "latency_p50", name: "enqueue→receipt p50 at offered rate", unit: "ms", value: func(r Round) float64 { return r.Latency.P50Millis }},
		{key: "latency_p95", name: "enqueue→receipt p95 at offered rate", unit: "ms", value: func(r Round) float64 { return r.Latency.P95Millis }},
		{key: "latency_p99", name: "enqueue→receipt p99 at offered rate", unit: "ms", value: func(r Round) float64 { return r.Latency.P99Millis },
			target: &target{text: "≤ 25 ms", ok: atMost(25)}},
		{key: "dead_healthy", name: "healthy deliveries/s, 10 % dead endpoints", unit: "deliveries/s", value: func(r Round) float64 { return r.Dead.PerSecond }, ratio: true},
		{key: "dead_vs_end_to_end", name: "  … ÷ end to end without dead endpoints", unit: "ratio",
			value:  func(r Round) float64 { return r.Dead.PerSecond / r.EndToEnd.PerSecond },
			target: &target{text: "≥ 0.80", ok: atLeast(0.80)}},
		{key: "sql_per_delivery", name: "SQL transactions per delivery (≥ queries)", unit: "/delivery",
			value:  func(r Round) float64 { return per(r.SQLTransactions, r.Deliveries) },
			target: &target{text: fmt.Sprintf("≤ 1 (≤ %.2f)", 1+sqlTolerance), ok: atMost(1 + sqlTolerance)}},
		{key: "redis_rt_beyond_asynq", name: "Redis round trips per delivery beyond asynq's own (< 0: fewer)", unit: "/delivery",
			value: func(r Round) float64 {
				return per(r.EndToEnd.RedisReads, r.EndToEnd.Tasks) - per(r.Ceiling.RedisReads, r.Ceiling.Tasks)
			},
			target: &target{text: fmt.Sprintf("1 (≤ %.1f)", 1+redisRTTolerance), ok: atMost(1 + redisRTTolerance)}},
		{key: "redis_rt_end_to_end", name: "  Redis round trips per delivery, total", unit: "/delivery", value: func(r Round) float64 { return per(r.EndToEnd.RedisReads, r.EndToEnd.Tasks) }},
		{key: "redis_rt_ceiling", name: "  Redis round trips per no-op task (asynq's own)", unit: "/task", value: func(r Round) float64 { return per(r.Ceiling.RedisReads, r.Ceiling.Tasks) }},
		{key: "redis_cmds_beyond_asynq", name: "Redis commands per delivery beyond asynq's own", unit: "/delivery",
			value: func(r Round) float64 {
				return per(r.EndToEnd.RedisCommands, r.EndToEnd.Tasks) - per(r.Ceiling.RedisCommands, r.Ceiling.Tasks)
			}},
		{key: "redis_cmds_end_to_end", name: "  Redis commands per delivery, total (incl. in scripts)", unit: "/delivery", value: func(r Round) float64 { return per(r.EndToEnd.RedisCommands, r.EndToEnd.Tasks) }},
		{key: "redis_cpu_ceiling", name: "Redis CPU per 1,000 no-op tasks", unit: "ms", value: func(r Round) float64 { return perK(r.Ceiling.RedisCPUSeconds, r.Ceiling.Tasks) }},
		{key: "redis_cpu_end_to_end", name: "Redis CPU per 1,000 deliveries", unit: "ms", value: func(r Round) float64 { return perK(r.EndToEnd.RedisCPUSeconds, r.EndToEnd.Tasks) }},
		{key: "worker_cpu_end_to_end", name: "worker CPU per 1,000 deliveries (incl. its start)", unit: "ms", value: func(r Round) float64 { return perK(r.EndToEnd.WorkerCPUSeconds, r.EndToEnd.Tasks) }},
		{key: "receiver_conns_end_to_end", name: "receiver connections opened per 1,000 deliveries", unit: "",
			value: func(r Round) float64 { return 1000 * per(r.EndToEnd.ReceiverConnections, r.EndToEnd.Tasks) }},
		{key: "receiver_conns_bare_post", name: "  same for the bare-POST floor", unit: "",
			value: func(r Round) float64 { return 1000 * per(r.BarePOST.ReceiverConnections, r.BarePOST.Tasks) }},
		{key: "worker_peak_rss", name: "worker peak RSS (max over rounds)", unit: "MiB", value: func(r Round) float64 { return float64(r.PeakRSSBytes) / (1 << 20) },
			target: &target{text: "≤ 100 MiB", ok: atMost(100)}},
		{key: "single_enqueue", name: "asynq Enqueue loop", unit: "tasks/s", value: func(r Round) float64 { return r.SingleEnqueuePerS }},
		{key: "bulk_enqueue", name: "`enqueue bulk`", unit: "tasks/s", value: func(r Round) float64 { return r.BulkEnqueuePerS }},
		{key: "bulk_vs_single", name: "`enqueue bulk` ÷ Enqueue loop", unit: "ratio",
			value:  func(r Round) float64 { return r.BulkEnqueuePerS / r.SingleEnqueuePerS },
			target: &target{text: "≥ 3", ok: atLeast(3)}},
		{key: "ingest_batch", name: "batch ingest over HTTP (1,000 a request, 4 producers)", unit: "tasks/s", value: func(r Round) float64 { return r.IngestBatchPerS }},
		{key: "ingest_batch_vs_bulk", name: "  … ÷ `enqueue bulk`", unit: "ratio",
			value:  func(r Round) float64 { return r.IngestBatchPerS / r.BulkEnqueuePerS },
			target: &target{text: "≥ 0.80", ok: atLeast(0.80)}},
	}
}

// summarize computes the figures from the rounds.
func (r *Report) summarize() {
	r.Figures = r.Figures[:0]
	for _, s := range figureSpecs() {
		f := Figure{Key: s.key, Name: s.name, Unit: s.unit}
		var ratios []float64
		for _, rd := range r.Rounds {
			v := s.value(rd)
			f.Rounds = append(f.Rounds, v)
			if s.ratio && rd.Ceiling.PerSecond > 0 {
				ratios = append(ratios, v/rd.Ceiling.PerSecond)
			}
		}
		f.Value = median(f.Rounds)
		if len(f.Rounds) > 0 {
			f.Min, f.Max = slices.Min(f.Rounds), slices.Max(f.Rounds)
		}
		if s.key == "worker_peak_rss" { // a peak: the worst round counts
			f.Value = f.Max
		}
		if s.ratio {
			m := median(ratios)
			f.RatioToCeiling = &m
		}
		if s.target != nil {
			f.Target = s.target.text
			v := f.Value
			if s.target.onRatio && f.RatioToCeiling != nil {
				v = *f.RatioToCeiling
			}
			met := !math.IsNaN(v) && s.target.ok(v)
			f.Met = &met
		}
		r.Figures = append(r.Figures, f)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// WriteTable writes the table: figure | value | ratio to ceiling | target |
// met?, then the noise of the run.
func (r *Report) WriteTable(w io.Writer) error {
	s := r.Settings
	fmt.Fprintf(w, "hookworker benchmark: N=%d, %d round(s), concurrency %d, %d fetchers, task check interval %s, K=%d installations (%d dead in the dead-endpoint phase), latency at %d/s for %s, M=%d\n",
		s.N, s.Rounds, s.Concurrency, s.Fetchers, s.TaskCheckInterval, s.Installations, s.DeadInstallations, s.LatencyRate, s.LatencyDuration, s.BulkTasks)
	if s.Rounds > 1 {
		fmt.Fprintln(w, "values are medians over rounds [min–max]; ratios are medians of each round's ratio")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tratio to ceiling\ttarget\tmet?")
	fmt.Fprintln(tw, "------\t-----\t----------------\t------\t----")
	for _, f := range r.Figures {
		ratio, met := "", ""
		if f.RatioToCeiling != nil {
			ratio = fmt.Sprintf("%.2f", *f.RatioToCeiling)
		}
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, formatValue(f, len(r.Rounds)), ratio, f.Target, met)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, r.noise())
	return nil
}

// formatValue renders a figure's value with its unit and range.
func formatValue(f Figure, rounds int) string {
	prec := 2
	switch {
	case math.Abs(f.Value) >= 100:
		prec = 0
	case math.Abs(f.Value) >= 10:
		prec = 1
	}
	v := func(x float64) string { return fmt.Sprintf("%.*f", prec, x) }
	unit := " " + f.Unit
	if f.Unit == "ratio" || f.Unit == "" {
		unit = ""
	}
	out := v(f.Value) + unit
	if rounds > 1 {
		out += " [" + v(f.Min) + "–" + v(f.Max) + "]"
	}
	return out
}

// noise summarises the CPU the rest of the machine used during the
// throughput phases: the figures are only as steady as that load.
func (r *Report) noise() string {
	var b strings.Builder
	b.WriteString("CPU (cores, averaged over each drain): Redis / bench process (drains, receiver) / worker / PostgreSQL backends of the bench database / everything else, of the machine's total\n")
	b.WriteString("(everything else = other people's processes: the noise; a machine total near 2.00 means the 2 cores were saturated)\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "phase")
	for i := range r.Rounds {
		fmt.Fprintf(tw, "\tround %d: redis/bench/worker/pg/else of machine", i+1)
	}
	fmt.Fprintln(tw)
	row := func(name string, get func(Round) CPUUse) {
		fmt.Fprint(tw, name)
		for _, rd := range r.Rounds {
			c := get(rd)
			fmt.Fprintf(tw, "\t%.2f / %.2f / %.2f / %.2f / %.2f of %.2f", c.Redis, c.Bench, c.Worker, c.Postgres, c.Other, c.Machine)
		}
		fmt.Fprintln(tw)
	}
	row("no-op ceiling", func(r Round) CPUUse { return r.Ceiling.CPU })
	row("bare-POST floor", func(r Round) CPUUse { return r.BarePOST.CPU })
	row("… 8 asynq servers", func(r Round) CPUUse { return r.BarePOST8.CPU })
	row("end to end", func(r Round) CPUUse { return r.EndToEnd.CPU })
	row("10 % dead endpoints", func(r Round) CPUUse { return r.Dead.CPU })
	_ = tw.Flush()
	var spread []string
	for _, f := range r.Figures {
		if (f.Key == "ceiling" || f.Key == "bare_post" || f.Key == "end_to_end" || f.Key == "dead_healthy") && f.Value > 0 && len(f.Rounds) > 1 {
			spread = append(spread, fmt.Sprintf("%s ±%.0f%%", f.Key, 50*(f.Max-f.Min)/f.Value))
		}
	}
	if len(spread) > 0 {
		fmt.Fprintf(&b, "round-to-round spread (half the range ÷ median): %s\n", strings.Join(spread, ", "))
	}
	return b.String()
}
