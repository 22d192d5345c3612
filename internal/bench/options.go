package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Options configure a benchmark run. Zero fields take the defaults of
// Defaults.
type Options struct {
	// N is the number of tasks of each throughput phase. Defaults to 20000.
	N int
	// Rounds is how many times every phase runs; figures are medians.
	// Defaults to 3.
	Rounds int
	// Concurrency is the asynq concurrency of the worker and of the
	// reference drains. Defaults to the worker's WORKER_CONCURRENCY.
	Concurrency int
	// TaskCheckInterval is the idle poll interval of the worker and of the
	// reference drains. Defaults to the worker's TASK_CHECK_INTERVAL.
	TaskCheckInterval time.Duration
	// Fetchers is the worker's WORKER_FETCHERS, the servers of the
	// fetcher-matched bare-POST floor. Defaults to 1.
	Fetchers int
	// WebhookTimeout is the worker's WEBHOOK_TIMEOUT, used by the bare-POST
	// client too. Defaults to the worker's.
	WebhookTimeout time.Duration
	// Installations is K, the installations deliveries spread over.
	// Defaults to 50.
	Installations int
	// DeadInstallations of them point at the endpoint that never answers in
	// the dead-endpoint phase. Defaults to Installations/10.
	DeadInstallations int
	// LatencyRate is the offered rate of the latency phase, tasks/s.
	// Defaults to 1000.
	LatencyRate int
	// LatencyDuration is how long the latency phase offers load. Defaults
	// to 10s.
	LatencyDuration time.Duration
	// BulkTasks is M, the tasks of the enqueue comparison. Defaults to
	// min(N, 10000).
	BulkTasks int
	// EnqueueWorkers is how many concurrent Enqueue calls fill the queue
	// before a throughput phase. Defaults to 64.
	EnqueueWorkers int
	// RedisURL is an existing Redis to use; its database must be empty at
	// start (it is flushed between phases, and must hold only what the
	// bench wrote). Empty starts a throwaway redis-server. Defaults to empty.
	RedisURL string
	// RedisCluster starts a throwaway 3-master Redis Cluster instead of the
	// one redis-server when RedisURL is empty. Defaults to false.
	RedisCluster bool
	// DatabaseURL names the PostgreSQL server; a database is created on it
	// and dropped at the end. Defaults to DefaultDatabaseURL.
	DatabaseURL string
	// WorkerBin and EnqueueBin are prebuilt binaries; empty builds
	// ./cmd/worker and ./cmd/enqueue. Default to empty.
	WorkerBin, EnqueueBin string
	// WorkerEnv are extra KEY=VALUE settings for the worker process, after
	// the benchmark's own. Defaults to none.
	WorkerEnv []string
	// Progress receives one line per phase. Defaults to io.Discard.
	Progress io.Writer
	// Phases, when not empty, are the only phases run (see PhaseNames);
	// the figures of the others are left at zero. Defaults to every phase.
	Phases []string
}

// PhaseNames are the phases a run can be limited to, in the order they run:
// the no-op ceiling, both bare-POST floors, end to end (with the latency
// and SQL figures), 10 % dead endpoints, the enqueue comparison, one busy
// app, the burst, 10 % dead at WEBHOOK_TIMEOUT=200ms, and the idle phase.
var PhaseNames = []string{"ceiling", "floor", "e2e", "dead", "enqueue", "one-app", "burst", "dead-200ms", "idle"}

// runs reports whether phase is to run.
func (o Options) runs(phase string) bool {
	return len(o.Phases) == 0 || slices.Contains(o.Phases, phase)
}

// Defaults are the settings of a full run; the worker-derived fields
// (Concurrency, TaskCheckInterval, WebhookTimeout) come from its config.
func Defaults() Options {
	return Options{
		N: 20000, Rounds: 3, Installations: 50, LatencyRate: 1000, LatencyDuration: 10 * time.Second,
		EnqueueWorkers: 64, DatabaseURL: DefaultDatabaseURL,
	}
}

// Quick returns o shrunk to a smoke test: 1,000 tasks, one round, one second
// of latency load.
func Quick(o Options) Options {
	o.N, o.Rounds, o.LatencyDuration, o.BulkTasks = 1000, 1, time.Second, 1000
	return o
}

func (o Options) withDefaults() Options {
	d := Defaults()
	if o.N <= 0 {
		o.N = d.N
	}
	if o.Rounds <= 0 {
		o.Rounds = d.Rounds
	}
	if o.Fetchers <= 0 {
		o.Fetchers = 1
	}
	if o.Installations <= 0 {
		o.Installations = d.Installations
	}
	if o.DeadInstallations <= 0 {
		o.DeadInstallations = max(1, o.Installations/10)
	}
	if o.LatencyRate <= 0 {
		o.LatencyRate = d.LatencyRate
	}
	if o.LatencyDuration <= 0 {
		o.LatencyDuration = d.LatencyDuration
	}
	if o.BulkTasks <= 0 {
		o.BulkTasks = min(o.N, 10000)
	}
	if o.EnqueueWorkers <= 0 {
		o.EnqueueWorkers = d.EnqueueWorkers
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = d.DatabaseURL
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Concurrency <= 0:
		return errors.New("concurrency must be positive")
	case o.TaskCheckInterval <= 0:
		return errors.New("task check interval must be positive")
	case o.WebhookTimeout <= 0:
		return errors.New("webhook timeout must be positive")
	case o.DeadInstallations >= o.Installations:
		return errors.New("dead installations must be fewer than installations")
	case o.N < o.Installations:
		return errors.New("N must be at least the number of installations")
	}
	for _, ph := range o.Phases {
		if !slices.Contains(PhaseNames, ph) {
			return fmt.Errorf("unknown phase %q (phases: %s)", ph, strings.Join(PhaseNames, ", "))
		}
	}
	return nil
}
