package bench

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/internal/bench/fixture"
	"github.com/hookworker/hookworker/tasks"
)

// Drain is one throughput phase: N tasks drained from one queue.
type Drain struct {
	// Tasks is how many tasks were measured.
	Tasks int `json:"tasks"`
	// SpanSeconds is the time from the first to the last handled task (or
	// received webhook).
	SpanSeconds float64 `json:"span_s"`
	// PerSecond is Tasks / SpanSeconds.
	PerSecond float64 `json:"per_s"`
	// RedisCommands and RedisReads are the server's deltas over the drain,
	// the benchmark's own polls removed; reads are round trips.
	RedisCommands int64 `json:"redis_commands"`
	RedisReads    int64 `json:"redis_round_trips"`
	// RedisCPUSeconds is the Redis server's CPU time over the drain.
	RedisCPUSeconds float64 `json:"redis_cpu_s"`
	// WorkerCPUSeconds is the worker process's CPU time (0 in process).
	WorkerCPUSeconds float64 `json:"worker_cpu_s"`
	// CPU is the cores each party used over the drain.
	CPU CPUUse `json:"cpu"`
	// ReceiverConnections is how many connections the receiver accepted
	// over the drain (0 for the no-op ceiling).
	ReceiverConnections int64 `json:"receiver_connections"`
}

// Latency is the fixed-rate phase.
type Latency struct {
	Offered      int     `json:"offered"`
	OfferedPerS  float64 `json:"offered_per_s"`
	MaxLagMillis float64 `json:"max_enqueue_lag_ms"`
	P50Millis    float64 `json:"p50_ms"`
	P95Millis    float64 `json:"p95_ms"`
	P99Millis    float64 `json:"p99_ms"`
	MaxMillis    float64 `json:"max_ms"`
}

// Round is every figure of one round, measured back to back.
type Round struct {
	Ceiling  Drain `json:"ceiling"`
	BarePOST Drain `json:"bare_post"`
	// BarePOST8 is the bare-POST floor fetched by 8 asynq servers sharing
	// the concurrency: the best plain asynq webhook worker, since asynq
	// fetches serially per server.
	BarePOST8 Drain   `json:"bare_post_8"`
	EndToEnd  Drain   `json:"end_to_end"`
	Latency   Latency `json:"latency"`
	// EndToEndHealthyDeferred is the deferrals the end-to-end worker
	// counted (all its apps are healthy).
	EndToEndHealthyDeferred float64 `json:"end_to_end_healthy_deferred"`
	// Sched is the scheduling phases.
	Sched Sched `json:"sched"`
	// Dead is the dead-endpoint phase; its Tasks are the healthy ones.
	Dead Drain `json:"dead_endpoints"`
	// DeadConnections is how many connections the dead endpoint received.
	DeadConnections int64 `json:"dead_connections"`
	// SQLTransactions is the bench database's transactions over the
	// worker's life minus its start-up (measured as a `worker migrate` run);
	// Deliveries is what that worker delivered. Per-connection warm-up
	// (statement preparation) is included, a few hundredths at N=20000.
	SQLTransactions int64 `json:"sql_transactions"`
	Deliveries      int   `json:"deliveries"`
	// Received is every request the receiver got from that worker (more
	// than Deliveries means some were sent twice), and WorkerDBSessions the
	// database sessions it had open at the end.
	Received         int64 `json:"received"`
	WorkerDBSessions int64 `json:"worker_db_sessions"`
	// PeakRSSBytes is the worker's VmHWM over the end-to-end and latency
	// phases.
	PeakRSSBytes int64 `json:"worker_peak_rss_bytes"`
	// SingleEnqueuePerS is a loop of Client.Enqueue; BulkEnqueuePerS is
	// `enqueue bulk`, from the rate it prints (BulkRateSource "printed") or
	// its wall time ("wall").
	SingleEnqueuePerS float64 `json:"single_enqueue_per_s"`
	BulkEnqueuePerS   float64 `json:"bulk_enqueue_per_s"`
	BulkRateSource    string  `json:"bulk_rate_source"`
	// IngestBatchPerS is the same payloads posted to the HTTP ingest API's
	// batch endpoint, 1,000 a request from 4 producers at once.
	IngestBatchPerS float64 `json:"ingest_batch_per_s"`
}

// round runs every phase once.
func (e *env) round(ctx context.Context) (Round, error) {
	var r Round
	var err error
	o := e.opts
	if o.runs("ceiling") {
		if r.Ceiling, err = e.ceiling(ctx); err != nil {
			return r, fmt.Errorf("ceiling: %w", err)
		}
		e.progress("  no-op ceiling    %8.0f tasks/s   (redis %.2f cores, other load %.2f cores)", r.Ceiling.PerSecond, r.Ceiling.CPU.Redis, r.Ceiling.CPU.Other)
	}
	if o.runs("floor") {
		if r.BarePOST, err = e.barePOST(ctx, 1); err != nil {
			return r, fmt.Errorf("bare-POST floor: %w", err)
		}
		e.progress("  bare-POST floor  %8.0f deliveries/s (redis %.2f cores, other load %.2f cores)", r.BarePOST.PerSecond, r.BarePOST.CPU.Redis, r.BarePOST.CPU.Other)
		if r.BarePOST8, err = e.barePOST(ctx, floorServers); err != nil {
			return r, fmt.Errorf("bare-POST floor, %d servers: %w", floorServers, err)
		}
		e.progress("  … %d servers      %8.0f deliveries/s (redis %.2f cores, other load %.2f cores)", floorServers, r.BarePOST8.PerSecond, r.BarePOST8.CPU.Redis, r.BarePOST8.CPU.Other)
	}
	if o.runs("e2e") {
		if err = e.endToEnd(ctx, &r); err != nil {
			return r, fmt.Errorf("end to end: %w", err)
		}
		e.progress("  end to end       %8.0f deliveries/s (redis %.2f, worker %.2f, postgres %.2f cores, other load %.2f cores)", r.EndToEnd.PerSecond, r.EndToEnd.CPU.Redis, r.EndToEnd.CPU.Worker, r.EndToEnd.CPU.Postgres, r.EndToEnd.CPU.Other)
		e.progress("  latency at %.0f/s  p50 %.1f ms  p95 %.1f ms  p99 %.1f ms", r.Latency.OfferedPerS, r.Latency.P50Millis, r.Latency.P95Millis, r.Latency.P99Millis)
	}
	if o.runs("dead") {
		if r.Dead, r.DeadConnections, err = e.deadEndpoints(ctx); err != nil {
			return r, fmt.Errorf("dead endpoints: %w", err)
		}
		e.progress("  10%% dead         %8.0f healthy deliveries/s (other load %.2f cores)", r.Dead.PerSecond, r.Dead.CPU.Other)
	}
	if o.runs("enqueue") {
		if err = e.enqueueRates(ctx, &r); err != nil {
			return r, fmt.Errorf("enqueue rates: %w", err)
		}
		e.progress("  enqueue          %8.0f/s single loop, %.0f/s bulk, %.0f/s batch ingest over HTTP", r.SingleEnqueuePerS, r.BulkEnqueuePerS, r.IngestBatchPerS)
	}
	if err = e.sched(ctx, &r); err != nil {
		return r, fmt.Errorf("scheduling: %w", err)
	}
	return r, nil
}

// floorServers is how many asynq servers share the concurrency in the
// second bare-POST floor.
const floorServers = 8

// drainTimeout bounds a throughput phase generously: a broken build must
// fail, a slow machine must not.
func (e *env) drainTimeout(n int) time.Duration {
	return 60*time.Second + time.Duration(n)*5*time.Millisecond
}

// payload returns the resource-change payload of task i for installation.
func payload(installation int64, i int, enqueuedAtNs int64) tasks.ResourceChange {
	return tasks.ResourceChange{
		InstallationID: installation, Event: "issue.created",
		Data: fixture.IssueData(int64(i+1), enqueuedAtNs),
	}
}

// referenceTask is a task of typ with the same payload and options as a
// resource-change task, for the reference drains.
func referenceTask(typ string, i int) (*asynq.Task, error) {
	b, err := tasks.EncodeResourceChange(payload(1, i, 0))
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(typ, b, asynq.Queue(tasks.QueueAppPlatform), asynq.MaxRetry(25)), nil
}

// resourceTask is resource-change task i spread round-robin over set.
func resourceTask(set installations, i int, enqueuedAtNs int64) (*asynq.Task, error) {
	return tasks.NewResourceChangeTask(payload(set.ids[i%len(set.ids)], i, enqueuedAtNs))
}

// drainInProcess enqueues N tasks of typ, then drains them with fetchers
// in-process servers around h while w counts the finished ones.
func (e *env) drainInProcess(ctx context.Context, typ string, fetchers int, w *tally, h asynq.Handler) (Drain, error) {
	n := e.opts.N
	if err := e.flush(ctx); err != nil {
		return Drain{}, err
	}
	if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, func(i int) (*asynq.Task, error) { return referenceTask(typ, i) }); err != nil {
		return Drain{}, err
	}
	conns0 := e.recv.Connections()
	m, err := e.startMeter(ctx, 0)
	if err != nil {
		return Drain{}, err
	}
	srv, err := startDrain(e.redisURL, e.opts.Concurrency, fetchers, e.opts.TaskCheckInterval, h)
	if err != nil {
		return Drain{}, err
	}
	defer srv.stop()
	if err := w.wait(ctx, e.drainTimeout(n), nil); err != nil {
		return Drain{}, err
	}
	if err := e.waitQueueEmpty(ctx, tasks.QueueAppPlatform, 30*time.Second); err != nil {
		return Drain{}, err
	}
	got, err := e.stopMeter(ctx, m)
	if err != nil {
		return Drain{}, err
	}
	d := drainOf(n, w.span(), got)
	d.ReceiverConnections = e.recv.Connections() - conns0
	return d, nil
}

func drainOf(n int, span time.Duration, m metered) Drain {
	return Drain{
		Tasks: n, SpanSeconds: span.Seconds(), PerSecond: rate(n, span),
		RedisCommands: m.redis.commands, RedisReads: m.redis.reads, RedisCPUSeconds: m.redis.cpu.Seconds(),
		WorkerCPUSeconds: m.worker.Seconds(), CPU: m.cpu,
	}
}

// ceiling is figure 1: asynq draining N tasks with a handler that does
// nothing.
func (e *env) ceiling(ctx context.Context) (Drain, error) {
	w := newTally(e.opts.N)
	return e.drainInProcess(ctx, typeNoop, 1, w, noopHandler(w))
}

// barePOST is figure 2: the handler only POSTs the payload to the
// receiver, fetched by one server (any asynq worker) or by floorServers.
func (e *env) barePOST(ctx context.Context, fetchers int) (Drain, error) {
	client := newPostClient(e.opts.Concurrency, e.opts.WebhookTimeout)
	defer client.CloseIdleConnections()
	w := e.recv.expect(e.opts.N)
	return e.drainInProcess(ctx, typePost, fetchers, w, postHandler(client, e.recv.URL))
}

// endToEnd is figures 3, 4 and 6 and the peak RSS: the real worker drains N
// resource-change tasks to the receiver, then takes a fixed offered rate
// while idle; the database counts its transactions meanwhile.
func (e *env) endToEnd(ctx context.Context, r *Round) error {
	n := e.opts.N
	if err := e.flush(ctx); err != nil {
		return err
	}
	if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, func(i int) (*asynq.Task, error) { return resourceTask(e.healthy, i, 0) }); err != nil {
		return err
	}
	// What a worker's start costs in transactions (migrating an up-to-date
	// schema), to subtract from its total.
	env := e.workerEnv()
	x0, err := e.db.transactions(ctx)
	if err != nil {
		return err
	}
	if _, _, err := runCommand(ctx, e.workerBin, []string{"migrate"}, env, nil); err != nil {
		return err
	}
	x1, err := e.db.transactions(ctx)
	if err != nil {
		return err
	}
	startup := x1 - x0

	w := e.recv.expect(n)
	received0, conns0 := e.recv.Total(), e.recv.Connections()
	m, err := e.startMeter(ctx, 0)
	if err != nil {
		return err
	}
	proc, addr, err := e.metricsWorker("e2e")
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = proc.stop(15 * time.Second)
		}
	}()
	m.workerPid = proc.pid()
	exited := proc.exited()
	if err := w.wait(ctx, e.drainTimeout(n), exited); err != nil {
		return err
	}
	if err := e.waitQueueEmpty(ctx, tasks.QueueAppPlatform, 30*time.Second); err != nil {
		return err
	}
	got, err := e.stopMeter(ctx, m)
	if err != nil {
		return err
	}
	r.EndToEnd = drainOf(n, w.span(), got)
	r.EndToEnd.ReceiverConnections = e.recv.Connections() - conns0

	if r.Latency, err = e.latency(ctx, exited); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	if r.PeakRSSBytes, err = peakRSS(proc.pid()); err != nil {
		return err
	}
	if r.EndToEndHealthyDeferred, err = healthyDeferred(ctx, addr); err != nil {
		return err
	}
	if r.WorkerDBSessions, err = e.db.sessions(ctx); err != nil {
		return err
	}
	r.Received = e.recv.Total() - received0
	stopped = true
	if err := proc.stop(15 * time.Second); err != nil {
		return err
	}
	// The worker has exited, so its sessions have published their
	// statistics.
	x2, err := e.db.transactions(ctx)
	if err != nil {
		return err
	}
	r.SQLTransactions = x2 - x1 - startup
	r.Deliveries = n + r.Latency.Offered
	return nil
}

// latency is figure 4: with the worker idle, offer LatencyRate tasks/s for
// LatencyDuration and measure enqueue→receipt.
func (e *env) latency(ctx context.Context, exited <-chan error) (Latency, error) {
	o := e.opts
	total := int(float64(o.LatencyRate) * o.LatencyDuration.Seconds())
	w := e.recv.expect(total)
	off, err := offerRate(ctx, e.client, o.LatencyRate, o.LatencyDuration, 8, func(i int, ns int64) (*asynq.Task, error) {
		return resourceTask(e.healthy, i, ns)
	})
	if err != nil {
		return Latency{}, err
	}
	if err := w.wait(ctx, 60*time.Second, exited); err != nil {
		return Latency{}, err
	}
	lat := w.latencies()
	if len(lat) != total {
		return Latency{}, fmt.Errorf("%d of %d webhooks carried an enqueue stamp", len(lat), total)
	}
	slices.Sort(lat)
	return Latency{
		Offered: off.sent, OfferedPerS: rate(off.sent, off.elapsed), MaxLagMillis: ms(off.lagMax),
		P50Millis: ms(percentile(lat, 50)), P95Millis: ms(percentile(lat, 95)), P99Millis: ms(percentile(lat, 99)),
		MaxMillis: ms(lat[len(lat)-1]),
	}, nil
}

// deadEndpoints is figure 5: N tasks over installations of which
// DeadInstallations never answer; it measures the healthy deliveries.
func (e *env) deadEndpoints(ctx context.Context) (Drain, int64, error) {
	n := e.opts.N
	if err := e.flush(ctx); err != nil {
		return Drain{}, 0, err
	}
	if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, func(i int) (*asynq.Task, error) { return resourceTask(e.mixed, i, 0) }); err != nil {
		return Drain{}, 0, err
	}
	healthy := e.mixed.healthyCount(n)
	w := e.recv.expect(healthy)
	conns0, okConns0 := e.dead.Accepted(), e.recv.Connections()
	m, err := e.startMeter(ctx, 0)
	if err != nil {
		return Drain{}, 0, err
	}
	proc, err := startWorker(e.workerBin, e.workerEnv(), e.logFile("worker-dead.log"))
	if err != nil {
		return Drain{}, 0, err
	}
	defer proc.stop(15 * time.Second) //nolint:errcheck // measured already; a stop failure is not a figure
	m.workerPid = proc.pid()
	// Healthy tasks wait behind dead ones holding workers for the whole
	// timeout, so allow for that.
	timeout := e.drainTimeout(n) + time.Duration(n-healthy)*e.opts.WebhookTimeout/time.Duration(e.opts.Concurrency)
	if err := w.wait(ctx, timeout, proc.exited()); err != nil {
		return Drain{}, 0, err
	}
	got, err := e.stopMeter(ctx, m)
	if err != nil {
		return Drain{}, 0, err
	}
	d := drainOf(healthy, w.span(), got)
	d.ReceiverConnections = e.recv.Connections() - okConns0
	return d, e.dead.Accepted() - conns0, nil
}

// bulkRate matches the rate `enqueue bulk` prints: "… (12345/s) …".
var bulkRate = regexp.MustCompile(`\(([0-9.]+)/s\)`)

// enqueueRates is figure 7: a loop of single Client.Enqueue calls against
// `enqueue bulk` reading the same tasks as NDJSON.
func (e *env) enqueueRates(ctx context.Context, r *Round) error {
	m := e.opts.BulkTasks
	if err := e.flush(ctx); err != nil {
		return err
	}
	rdb, err := newRedisClient(e.redisURL, func(u *redis.UniversalOptions) { u.Protocol = 3 }) // go-redis's default, as before
	if err != nil {
		return err
	}
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	if err := rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	start := time.Now()
	for i := range m {
		t, err := resourceTask(e.healthy, i, 0)
		if err != nil {
			return err
		}
		if _, err := client.EnqueueContext(ctx, t); err != nil {
			return fmt.Errorf("enqueue task %d: %w", i, err)
		}
	}
	r.SingleEnqueuePerS = rate(m, time.Since(start))

	if err := e.flush(ctx); err != nil {
		return err
	}
	var lines []byte
	for i := range m {
		b, err := tasks.EncodeResourceChange(payload(e.healthy.ids[i%len(e.healthy.ids)], i, 0))
		if err != nil {
			return err
		}
		lines = append(append(lines, b...), '\n')
	}
	out, wall, err := runCommand(ctx, e.enqueueBin, []string{"bulk"}, e.workerEnv(), lines)
	if err != nil {
		return err
	}
	r.BulkEnqueuePerS, r.BulkRateSource = rate(m, wall), "wall"
	if sub := bulkRate.FindStringSubmatch(out); sub != nil {
		if v, err := strconv.ParseFloat(sub[1], 64); err == nil && v > 0 {
			r.BulkEnqueuePerS, r.BulkRateSource = v, "printed"
		}
	}
	pending, err := e.rdb.LLen(ctx, "asynq:{"+tasks.QueueAppPlatform+"}:pending").Result()
	if err != nil {
		return err
	}
	if pending != int64(m) {
		return fmt.Errorf("enqueue bulk left %d pending tasks, want %d (output: %s)", pending, m, out)
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	r.IngestBatchPerS, _, err = ingestBatchRate(ctx, e.redisURL, lines)
	if err != nil {
		return fmt.Errorf("batch ingest: %w", err)
	}
	if pending, err = e.rdb.LLen(ctx, "asynq:{"+tasks.QueueAppPlatform+"}:pending").Result(); err != nil {
		return err
	}
	if pending != int64(m) {
		return fmt.Errorf("batch ingest left %d pending tasks, want %d", pending, m)
	}
	return e.flush(ctx)
}
