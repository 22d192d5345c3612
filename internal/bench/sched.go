package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/tasks"
)

// Sched is the scheduling figures of a round: fairness between apps, the
// cost of idling, and the pick-up latency of a lone task.
type Sched struct {
	// OneApp is N tasks for one installation (one busy fast app).
	OneApp Drain `json:"one_app"`
	// BurstAloneSeconds is the time to deliver BurstTasks healthy tasks
	// (over K-1 apps) alone; BurstSeconds the same behind BurstTasks for
	// one app whose receiver hangs, enqueued just before them. Both run
	// from the first request any receiver got to the last healthy one.
	BurstTasks        int     `json:"burst_tasks"`
	BurstAloneSeconds float64 `json:"burst_alone_s"`
	BurstSeconds      float64 `json:"burst_s"`
	// HealthyDeferred is the deferrals of healthy apps, per scenario
	// (end to end, one app, burst, 10 % dead with WEBHOOK_TIMEOUT=200ms).
	HealthyDeferred map[string]float64 `json:"healthy_deferred"`
	// Idle is one idle worker; Idle8 eight on the same Redis.
	IdleCommandsPerS  float64 `json:"idle_redis_commands_per_s"`
	IdleRedisCPU      float64 `json:"idle_redis_cpu_cores"`
	IdleWorkerCPU     float64 `json:"idle_worker_cpu_cores"`
	Idle8RedisCPU     float64 `json:"idle8_redis_cpu_cores"`
	Idle8CommandsPerS float64 `json:"idle8_redis_commands_per_s"`
	Idle8ServerRows   float64 `json:"idle8_server_rows_per_worker"`
	// Lone is enqueue→POST of tasks enqueued one at a time into an idle
	// worker.
	LoneTasks     int     `json:"lone_tasks"`
	LoneP50Millis float64 `json:"lone_p50_ms"`
	LoneP99Millis float64 `json:"lone_p99_ms"`
}

// shortTimeout is the WEBHOOK_TIMEOUT of the loaded-machine scenario, where
// a healthy receiver's answer takes a larger share of the timeout.
const shortTimeout = 200 * time.Millisecond

// sched runs the scheduling phases.
func (e *env) sched(ctx context.Context, r *Round) error {
	s := &r.Sched
	s.HealthyDeferred = map[string]float64{"end_to_end": r.EndToEndHealthyDeferred}
	var err error
	o := e.opts
	if o.runs("one-app") {
		if s.OneApp, s.HealthyDeferred["one_app"], err = e.workerDrain(ctx, "one-app", e.opts.N, func(i int) (*asynq.Task, error) {
			return resourceTask(installations{ids: e.healthy.ids[:1], healthy: []bool{true}}, i, 0)
		}); err != nil {
			return fmt.Errorf("one app: %w", err)
		}
		e.progress("  one busy app     %8.0f deliveries/s", s.OneApp.PerSecond)
	}
	if o.runs("burst") {
		if err := e.burstPhase(ctx, s); err != nil {
			return fmt.Errorf("burst: %w", err)
		}
		e.progress("  burst            %8.2f s behind the burst, %.2f s alone", s.BurstSeconds, s.BurstAloneSeconds)
	}
	if o.runs("dead-200ms") {
		if s.HealthyDeferred["dead_200ms"], err = e.shortTimeoutPhase(ctx); err != nil {
			return fmt.Errorf("10%% dead at %s: %w", shortTimeout, err)
		}
	}
	e.progress("  healthy deferred %v", s.HealthyDeferred)
	if o.runs("idle") {
		if err := e.idlePhase(ctx, s); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		e.progress("  idle             %6.0f Redis commands/s, worker %.2f %%, 8 idle: Redis %.2f %%, %.1f server rows each; lone task p50 %.1f ms p99 %.1f ms",
			s.IdleCommandsPerS, 100*s.IdleWorkerCPU, 100*s.Idle8RedisCPU, s.Idle8ServerRows, s.LoneP50Millis, s.LoneP99Millis)
	}
	return nil
}

// metricsWorker starts a worker whose operator server listens on a free
// port, for its deferral counter, with extra settings on top of env.
func (e *env) metricsWorker(name string, extra ...string) (*workerProcess, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := withEnv(e.workerEnv(), append([]string{"HTTP_ADDR=" + addr}, extra...)...)
	proc, err := startWorker(e.workerBin, env, e.logFile("worker-"+name+".log"))
	if err == nil {
		e.progress("  worker %s: operator server (metrics, pprof) at http://%s", name, addr)
	}
	return proc, addr, err
}

// healthyDeferred reads the worker's hookworker_webhook_deferred_total for
// the bench's healthy apps: internal ones (the dead apps of the phases that
// count deferrals are published).
func healthyDeferred(ctx context.Context, addr string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	var resp *http.Response
	for range 50 { // the operator server may still be starting
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, fmt.Errorf("scrape worker metrics: %w", err)
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, `hookworker_webhook_deferred_total{integration="internal"}`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}

// workerDrain enqueues n tasks, starts a worker and measures its drain to
// the receiver, and the healthy deferrals it counted.
func (e *env) workerDrain(ctx context.Context, name string, n int, makeTask func(int) (*asynq.Task, error)) (Drain, float64, error) {
	if err := e.flush(ctx); err != nil {
		return Drain{}, 0, err
	}
	if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, makeTask); err != nil {
		return Drain{}, 0, err
	}
	w := e.recv.expect(n)
	m, err := e.startMeter(ctx, 0)
	if err != nil {
		return Drain{}, 0, err
	}
	proc, addr, err := e.metricsWorker(name)
	if err != nil {
		return Drain{}, 0, err
	}
	defer proc.stop(15 * time.Second) //nolint:errcheck // measured already
	m.workerPid = proc.pid()
	if err := w.wait(ctx, e.drainTimeout(n), proc.exited()); err != nil {
		return Drain{}, 0, err
	}
	got, err := e.stopMeter(ctx, m)
	if err != nil {
		return Drain{}, 0, err
	}
	deferred, err := healthyDeferred(ctx, addr)
	return drainOf(n, w.span(), got), deferred, err
}

// burstTasks is how many tasks each side of the burst has: 5,000, fewer
// in a quick run.
func (e *env) burstTasks() int { return min(5000, e.opts.N/2) }

// burstPhase measures BurstTasks healthy tasks over the burst set's
// healthy apps, alone and then enqueued just behind as many for its dead
// app, each drained by a fresh worker.
func (e *env) burstPhase(ctx context.Context, s *Sched) error {
	n := e.burstTasks()
	s.BurstTasks = n
	healthy := installations{ids: e.burst.ids[1:], healthy: e.burst.healthy[1:]}
	dead := installations{ids: e.burst.ids[:1], healthy: []bool{false}}
	run := func(name string, withBurst bool) (time.Duration, float64, error) {
		if err := e.flush(ctx); err != nil {
			return 0, 0, err
		}
		if withBurst {
			if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, func(i int) (*asynq.Task, error) { return resourceTask(dead, i, 0) }); err != nil {
				return 0, 0, err
			}
		}
		if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, func(i int) (*asynq.Task, error) { return resourceTask(healthy, i, 0) }); err != nil {
			return 0, 0, err
		}
		w := e.recv.expect(n)
		e.dead.resetFirst()
		proc, addr, err := e.metricsWorker(name)
		if err != nil {
			return 0, 0, err
		}
		defer proc.stop(15 * time.Second) //nolint:errcheck // measured already
		if err := w.wait(ctx, e.drainTimeout(2*n)+time.Duration(n)*e.opts.WebhookTimeout/time.Duration(e.opts.Concurrency), proc.exited()); err != nil {
			return 0, 0, err
		}
		first, last := w.bounds()
		if d := e.dead.firstAccept(); !d.IsZero() && d.Before(first) {
			first = d
		}
		deferred, err := healthyDeferred(ctx, addr)
		return last.Sub(first), deferred, err
	}
	alone, d1, err := run("burst-alone", false)
	if err != nil {
		return err
	}
	behind, d2, err := run("burst", true)
	if err != nil {
		return err
	}
	s.BurstAloneSeconds, s.BurstSeconds = alone.Seconds(), behind.Seconds()
	s.HealthyDeferred["burst"] = d1 + d2
	return nil
}

// shortTimeoutPhase is the 10 %-dead drain with WEBHOOK_TIMEOUT=200ms on a
// machine the drain itself loads: it returns the healthy deferrals.
func (e *env) shortTimeoutPhase(ctx context.Context) (float64, error) {
	n := e.opts.N
	if err := e.flush(ctx); err != nil {
		return 0, err
	}
	if err := enqueueAll(ctx, e.client, n, e.opts.EnqueueWorkers, func(i int) (*asynq.Task, error) { return resourceTask(e.mixedPub, i, 0) }); err != nil {
		return 0, err
	}
	healthy := e.mixedPub.healthyCount(n)
	w := e.recv.expect(healthy)
	proc, addr, err := e.metricsWorker("dead-200ms", "WEBHOOK_TIMEOUT="+shortTimeout.String())
	if err != nil {
		return 0, err
	}
	defer proc.stop(15 * time.Second) //nolint:errcheck // measured already
	// On a loaded machine some healthy deliveries may take longer than
	// 200 ms: real timeouts, retried after WEBHOOK_RETRY_DELAY. So the
	// phase ends when every healthy delivery arrived or nothing is left
	// pending or running (what remains is retries and deferred copies).
	deadline := time.Now().Add(e.drainTimeout(n) + time.Duration(n-healthy)*shortTimeout/time.Duration(e.opts.Concurrency))
	exited := proc.exited()
	for w.seen() < healthy {
		left, err := e.pendingOrActive(ctx)
		if err != nil {
			return 0, err
		}
		if left == 0 {
			e.progress("  10%% dead at %s: %d of %d healthy deliveries arrived, the rest timed out (retried later)", shortTimeout, w.seen(), healthy)
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("timed out with %d of %d healthy deliveries and %d tasks pending or running", w.seen(), healthy, left)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case err := <-exited:
			return 0, err
		case <-time.After(200 * time.Millisecond):
		}
	}
	return healthyDeferred(ctx, addr)
}

// pendingOrActive is how many app_platform tasks wait or run.
func (e *env) pendingOrActive(ctx context.Context) (int64, error) {
	q := "asynq:{" + tasks.QueueAppPlatform + "}:"
	pipe := e.rdb.Pipeline()
	p := pipe.LLen(ctx, q+"pending")
	a := pipe.LLen(ctx, q+"active")
	_, err := pipe.Exec(ctx)
	e.observed.commands += 2
	e.observed.reads++
	if err != nil {
		return 0, err
	}
	return p.Val() + a.Val(), nil
}

// idleSettle is how long idle workers run before they are measured (start,
// and the scale-down after a burst of activity); idleMeasure how long they
// are measured.
const (
	idleSettle  = 3 * time.Second
	idleMeasure = 5 * time.Second
	loneTasks   = 100
)

// idlePhase measures one idle worker, then lone tasks into it, then eight
// idle workers on the same Redis.
func (e *env) idlePhase(ctx context.Context, s *Sched) error {
	if err := e.flush(ctx); err != nil {
		return err
	}
	env := e.workerEnv()
	first, err := startWorker(e.workerBin, env, e.logFile("worker-idle-1.log"))
	if err != nil {
		return err
	}
	procs := []*workerProcess{first}
	defer func() {
		for _, p := range procs {
			_ = p.stop(15 * time.Second)
		}
	}()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-first.exited():
			return err
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(idleSettle); err != nil {
		return err
	}
	m, err := e.startMeter(ctx, first.pid())
	if err != nil {
		return err
	}
	if err := sleep(idleMeasure); err != nil {
		return err
	}
	got, err := e.stopMeter(ctx, m)
	if err != nil {
		return err
	}
	s.IdleCommandsPerS = float64(got.redis.commands) / got.wall.Seconds()
	s.IdleRedisCPU, s.IdleWorkerCPU = got.cpu.Redis, got.cpu.Worker

	// Lone tasks: one at a time, each into an idle worker, at random
	// moments of its poll cycle.
	w := e.recv.expect(loneTasks)
	for i := range loneTasks {
		t, err := resourceTask(e.healthy, i, time.Now().UnixNano())
		if err != nil {
			return err
		}
		if _, err := e.client.EnqueueContext(ctx, t); err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for w.seen() <= i {
			if time.Now().After(deadline) {
				return fmt.Errorf("lone task %d not delivered within 10 s", i)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50*time.Millisecond + rand.N(50*time.Millisecond))
	}
	if err := w.wait(ctx, 10*time.Second, first.exited()); err != nil {
		return err
	}
	lat := w.latencies()
	slices.Sort(lat)
	s.LoneTasks = len(lat)
	s.LoneP50Millis, s.LoneP99Millis = ms(percentile(lat, 50)), ms(percentile(lat, 99))

	for i := 2; i <= 8; i++ {
		p, err := startWorker(e.workerBin, env, e.logFile(fmt.Sprintf("worker-idle-%d.log", i)))
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	if err := sleep(idleSettle); err != nil {
		return err
	}
	if m, err = e.startMeter(ctx, 0); err != nil {
		return err
	}
	if err := sleep(idleMeasure); err != nil {
		return err
	}
	if got, err = e.stopMeter(ctx, m); err != nil {
		return err
	}
	s.Idle8RedisCPU = got.cpu.Redis
	s.Idle8CommandsPerS = float64(got.redis.commands) / got.wall.Seconds()
	rows, err := e.routed.ZCard(ctx, "asynq:servers").Result()
	e.observed.commands++
	e.observed.reads++
	if err != nil {
		return err
	}
	s.Idle8ServerRows = float64(rows) / float64(len(procs))
	return nil
}
