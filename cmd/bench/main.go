// Command bench measures hookworker against performance.md's targets on
// real Redis and PostgreSQL and prints one table (or JSON with --json).
// `make bench` runs it. Progress goes to stderr, the result to stdout.
//
// Data flow: flags and the worker's config → bench.Run (own redis-server,
// fresh database, receivers, real worker binary) → table or JSON.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const usage = `usage: bench [flags]   (make bench)

Measures, against real Redis and PostgreSQL, in each of --rounds rounds:
  1. the no-op ceiling: asynq draining N tasks with an empty handler;
  2. the bare-POST floor: the same, the handler only POSTs to a local receiver;
  3. hookworker end to end: the real worker binary delivering N resource-change
     tasks to K=50 installations pointing at the receiver;
  4. enqueue→receipt latency p50/p95/p99 at a fixed offered rate;
  5. healthy throughput with 10 %% of installations on an endpoint that never answers;
  6. SQL transactions and Redis round trips/commands per delivery;
  7. ` + "`enqueue bulk`" + ` against a loop of asynq Enqueue calls, and the same
     payloads posted to the HTTP ingest API's batch endpoint against it;
and prints one table of medians with ratios to the ceiling and the targets.

Redis: a throwaway redis-server from PATH on a free loopback port (--redis
cluster: a throwaway 3-master Redis Cluster, REDIS_URL=redis-cluster://…),
unless --redis-url names one (whose database must be empty at start: it is
flushed between phases).
PostgreSQL: --database-url, else DATABASE_URL, TEST_DATABASE_URL, or
%s; a database hookworker_bench_<random>
is created on that server and dropped at the end (needs CREATEDB).
The worker's own settings (WORKER_CONCURRENCY, TASK_CHECK_INTERVAL,
WEBHOOK_TIMEOUT, CACHE_TTL, …) are read from the environment as the worker
reads them.

Flags:
`

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	d := bench.Defaults()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, bench.DefaultDatabaseURL)
		fs.PrintDefaults()
	}
	var o bench.Options
	var workerEnv stringList
	fs.IntVar(&o.N, "n", d.N, "tasks per throughput phase")
	fs.IntVar(&o.Rounds, "rounds", d.Rounds, "rounds of every phase; figures are medians")
	fs.IntVar(&o.Concurrency, "concurrency", cfg.WorkerConcurrency, "asynq concurrency of the worker and the reference drains (WORKER_CONCURRENCY)")
	fs.IntVar(&o.Installations, "installations", d.Installations, "installations K the tasks spread over (10% of them are dead in phase 5)")
	fs.IntVar(&o.LatencyRate, "latency-rate", d.LatencyRate, "offered tasks/s of the latency phase")
	fs.DurationVar(&o.LatencyDuration, "latency-duration", d.LatencyDuration, "how long the latency phase offers load")
	fs.IntVar(&o.BulkTasks, "bulk-tasks", 0, "tasks M of the enqueue comparison (default min(n, 10000))")
	fs.StringVar(&o.RedisURL, "redis-url", "", "use this Redis instead of a throwaway redis-server (its database must be empty; it is flushed between phases)")
	topology := fs.String("redis", "single", "the throwaway Redis: single (one redis-server) or cluster (a 3-master Redis Cluster)")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "PostgreSQL server to create the bench database on")
	fs.StringVar(&o.WorkerBin, "worker-bin", "", "prebuilt worker binary (default: go build ./cmd/worker)")
	fs.StringVar(&o.EnqueueBin, "enqueue-bin", "", "prebuilt enqueue binary (default: go build ./cmd/enqueue)")
	fs.Var(&workerEnv, "worker-env", "extra KEY=VALUE for the worker process, e.g. CACHE_TTL=1m (repeatable)")
	var phases string
	fs.StringVar(&phases, "phases", "", "run only these phases, comma-separated, for iterating (figures of the others are 0): "+strings.Join(bench.PhaseNames, ","))
	quick := fs.Bool("quick", false, "smoke test: n=1000, 1 round, 1 s of latency load, bulk-tasks=1000 (flags given explicitly win)")
	asJSON := fs.Bool("json", false, "print the figures and every round as JSON instead of the table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch *topology {
	case "single":
	case "cluster":
		o.RedisCluster = true
	default:
		return fmt.Errorf("--redis %q: want single or cluster", *topology)
	}
	for _, kv := range workerEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--worker-env %q: want KEY=VALUE", kv)
		}
	}
	o.WorkerEnv = workerEnv
	if phases != "" {
		o.Phases = strings.Split(phases, ",")
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = firstNonEmpty(getenv("DATABASE_URL"), getenv("TEST_DATABASE_URL"), bench.DefaultDatabaseURL)
	}
	// The worker's settings as the worker will see them: the environment,
	// a Redis URL (the bench always gives it one, which selects the
	// defaults of a real Redis), and --worker-env on top.
	wcfg, err := config.Load(func(k string) string {
		for i := len(workerEnv) - 1; i >= 0; i-- {
			if key, v, _ := strings.Cut(workerEnv[i], "="); key == k {
				return v
			}
		}
		if k == "REDIS_URL" {
			return "redis://127.0.0.1:6379/0"
		}
		return getenv(k)
	})
	if err != nil {
		return fmt.Errorf("--worker-env: %w", err)
	}
	o.TaskCheckInterval, o.WebhookTimeout, o.Fetchers = wcfg.TaskCheckInterval, wcfg.WebhookTimeout, wcfg.WorkerFetchers
	if *quick { // shrink what the flags did not set explicitly
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		q := bench.Quick(o)
		if !set["n"] {
			o.N = q.N
		}
		if !set["rounds"] {
			o.Rounds = q.Rounds
		}
		if !set["latency-duration"] {
			o.LatencyDuration = q.LatencyDuration
		}
		if !set["bulk-tasks"] {
			o.BulkTasks = q.BulkTasks
		}
	}
	o.Progress = stderr

	start := time.Now()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: done in %s\n", time.Since(start).Round(time.Second))
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteTable(stdout)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
