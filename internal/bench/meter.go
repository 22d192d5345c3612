package bench

import (
	"context"
	"time"
)

// CPUUse is how many cores each party used on average over a phase. Other
// is the rest of the machine (other people's tests, the rest of
// PostgreSQL): the noise of the figure.
type CPUUse struct {
	Machine float64 `json:"machine_cores"`
	Redis   float64 `json:"redis_cores"`
	Bench   float64 `json:"bench_cores"`
	Worker  float64 `json:"worker_cores"`
	// Postgres counts only the backends serving the bench database.
	Postgres float64 `json:"postgres_cores"`
	Other    float64 `json:"other_cores"`
}

// meter is a snapshot of the counters a phase is measured with.
type meter struct {
	at        time.Time
	machine   machineCPU
	self      time.Duration
	worker    time.Duration
	workerPid int
	redis     redisCounters
	observed  redisCounters
	backends  map[int]time.Duration
}

// metered is what happened between two snapshots.
type metered struct {
	wall   time.Duration
	redis  redisCounters // the benchmark's own observer commands removed
	cpu    CPUUse
	worker time.Duration // worker CPU time
}

// startMeter snapshots the counters; workerPid 0 means no worker process.
func (e *env) startMeter(ctx context.Context, workerPid int) (meter, error) {
	m := meter{workerPid: workerPid, observed: e.observed}
	var err error
	if m.redis, err = e.redisCounters(ctx); err != nil {
		return m, err
	}
	if m.machine, err = readMachineCPU(); err != nil {
		return m, err
	}
	if m.self, err = processCPU(0); err != nil {
		return m, err
	}
	if m.backends, err = e.db.backendCPU(ctx); err != nil {
		return m, err
	}
	if workerPid != 0 {
		if m.worker, err = processCPU(workerPid); err != nil {
			return m, err
		}
	}
	m.at = time.Now()
	return m, nil
}

// stop returns what happened since m.
func (e *env) stopMeter(ctx context.Context, m meter) (metered, error) {
	var out metered
	out.wall = time.Since(m.at)
	r, err := e.redisCounters(ctx)
	if err != nil {
		return out, err
	}
	mc, err := readMachineCPU()
	if err != nil {
		return out, err
	}
	self, err := processCPU(0)
	if err != nil {
		return out, err
	}
	backends, err := e.db.backendCPU(ctx)
	if err != nil {
		return out, err
	}
	var pg time.Duration
	for pid, cpu := range backends {
		pg += cpu - m.backends[pid]
	}
	var worker time.Duration
	if m.workerPid != 0 {
		if worker, err = processCPU(m.workerPid); err != nil {
			return out, err
		}
		out.worker = worker - m.worker
	}
	// Remove the observer's own commands issued in between (queue polls and
	// the INFO that took the first snapshot).
	out.redis = r.sub(m.redis).sub(e.observed.sub(m.observed))
	out.redis.cpu = r.cpu - m.redis.cpu
	cores := func(d time.Duration) float64 { return d.Seconds() / out.wall.Seconds() }
	machineDelta := mc.busy - m.machine.busy
	// /proc/stat ticks are per-CPU: busy time over wall time is cores used.
	out.cpu = CPUUse{
		Machine:  cores(machineDelta),
		Redis:    cores(out.redis.cpu),
		Bench:    cores(self - m.self),
		Worker:   cores(out.worker),
		Postgres: cores(pg),
	}
	out.cpu.Other = max(0, out.cpu.Machine-out.cpu.Redis-out.cpu.Bench-out.cpu.Worker-out.cpu.Postgres)
	return out, nil
}

// redisCounters reads the counters and accounts for the INFO it issued.
func (e *env) redisCounters(ctx context.Context) (redisCounters, error) {
	c, err := sumRedisCounters(ctx, e.nodes)
	e.observed.commands += int64(len(e.nodes))
	e.observed.reads += int64(len(e.nodes))
	return c, err
}

// waitQueueEmpty polls the queue until it is empty, accounting for the
// commands the polls issue.
func (e *env) waitQueueEmpty(ctx context.Context, queue string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		empty, err := queueEmpty(ctx, e.rdb, queue)
		e.observed.commands += 2
		e.observed.reads++
		if err != nil {
			return err
		}
		if empty {
			return nil
		}
		if time.Now().After(deadline) {
			return errQueueNotEmpty(queue, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
