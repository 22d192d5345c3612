package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/config"
)

// env is what every phase of a run shares: Redis, the database, the
// receivers, the binaries and the seeded installations.
type env struct {
	opts     Options
	dir      string
	redisURL string
	rdb      *redis.Client // observer of the queue's node; its commands are subtracted
	// nodes are every master (just rdb, unless a cluster): their counters
	// are summed and they are flushed between phases.
	nodes []*redis.Client
	// routed is the producer's client, which routes keys on a cluster.
	routed     redis.UniversalClient
	client     *asynq.Client // producer of the phases
	observed   redisCounters // commands and reads rdb issued while metering
	db         *benchDatabase
	recv       *Receiver
	dead       *DeadReceiver
	workerBin  string
	enqueueBin string
	healthy    installations // K installations, all answering
	mixed      installations // K installations, DeadInstallations dead
	// mixedPub is mixed with its dead apps published, and burst K
	// installations of which the first is a published dead app: the
	// worker's deferral metric tells their dead apps from healthy ones.
	mixedPub, burst installations
	ownRedis        bool
	start           time.Time
}

// Run sets up Redis, PostgreSQL, the receivers and the binaries, runs
// opts.Rounds rounds of every phase and returns the figures.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	e, cleanup, err := setup(ctx, opts)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	rep := &Report{Settings: settingsOf(opts, e)}
	for r := range opts.Rounds {
		e.progress("round %d/%d", r+1, opts.Rounds)
		res, err := e.round(ctx)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", r+1, err)
		}
		rep.Rounds = append(rep.Rounds, res)
	}
	rep.summarize()
	return rep, nil
}

// setup prepares the environment; cleanup undoes whatever was done, also
// after an error.
func setup(ctx context.Context, opts Options) (*env, func(), error) {
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	e := &env{start: time.Now(), opts: opts, workerBin: opts.WorkerBin, enqueueBin: opts.EnqueueBin}
	dir, err := os.MkdirTemp("", "hookworker-bench-")
	if err != nil {
		return nil, cleanup, fmt.Errorf("temp dir: %w", err)
	}
	e.dir = dir
	undo = append(undo, func() { os.RemoveAll(dir) })

	if e.workerBin == "" || e.enqueueBin == "" {
		e.progress("building ./cmd/worker and ./cmd/enqueue")
		w, q, err := buildCommands(ctx, dir)
		if err != nil {
			return nil, cleanup, err
		}
		if e.workerBin == "" {
			e.workerBin = w
		}
		if e.enqueueBin == "" {
			e.enqueueBin = q
		}
	}

	e.redisURL = opts.RedisURL
	if e.redisURL == "" && opts.RedisCluster {
		rc, err := startRedisCluster(ctx, dir)
		if err != nil {
			return nil, cleanup, err
		}
		undo = append(undo, rc.stop)
		e.redisURL, e.ownRedis = rc.url, true
		e.progress("started a %d-master Redis Cluster at %s", clusterNodes, rc.url)
	}
	if e.redisURL == "" {
		rs, err := startRedisServer(ctx, dir)
		if err != nil {
			return nil, cleanup, err
		}
		undo = append(undo, rs.stop)
		e.redisURL, e.ownRedis = rs.url, true
		e.progress("started redis-server at %s", rs.url)
	}
	if e.rdb, e.nodes, err = observerClients(ctx, e.redisURL); err != nil {
		return nil, cleanup, err
	}
	undo = append(undo, func() {
		for _, n := range e.nodes {
			n.Close()
		}
	})
	if !e.ownRedis {
		if err := requireEmpty(ctx, e.nodes); err != nil {
			return nil, cleanup, err
		}
	}
	producer, err := newRedisClient(e.redisURL, func(u *redis.UniversalOptions) {
		u.PoolSize, u.Protocol = opts.EnqueueWorkers+4, 3 // go-redis's default protocol, as a plain producer's
		plainDialer(u)
	})
	if err != nil {
		return nil, cleanup, err
	}
	undo = append(undo, func() { producer.Close() })
	e.routed = producer
	e.client = asynq.NewClientFromRedisClient(producer)
	if err := producer.Ping(ctx).Err(); err != nil {
		return nil, cleanup, fmt.Errorf("redis at %s does not answer: %w", config.Redact(e.redisURL), err)
	}

	if e.recv, err = StartReceiver(); err != nil {
		return nil, cleanup, err
	}
	undo = append(undo, func() { e.recv.Close() })
	if e.dead, err = StartDeadReceiver(); err != nil {
		return nil, cleanup, err
	}
	undo = append(undo, func() { e.dead.Close() })

	if e.db, err = createDatabase(ctx, opts.DatabaseURL); err != nil {
		return nil, cleanup, err
	}
	undo = append(undo, func() {
		if err := e.db.drop(context.Background()); err != nil {
			e.progress("warning: %v", err)
		}
	})
	e.progress("created database %s; seeding %d+%d installations", e.db.name, opts.Installations, opts.Installations)
	if e.healthy, err = seedInstallations(e.db.url, opts.Installations, 0, e.recv.URL, e.dead.URL, false); err != nil {
		return nil, cleanup, err
	}
	if e.mixed, err = seedInstallations(e.db.url, opts.Installations, opts.DeadInstallations, e.recv.URL, e.dead.URL, false); err != nil {
		return nil, cleanup, err
	}
	if e.mixedPub, err = seedInstallations(e.db.url, opts.Installations, opts.DeadInstallations, e.recv.URL, e.dead.URL, true); err != nil {
		return nil, cleanup, err
	}
	if e.burst, err = seedInstallations(e.db.url, opts.Installations, 1, e.recv.URL, e.dead.URL, true); err != nil {
		return nil, cleanup, err
	}
	return e, cleanup, nil
}

// progress writes one line to opts.Progress, stamped with the time since
// the run started.
func (e *env) progress(format string, a ...any) {
	fmt.Fprintf(e.opts.Progress, "bench: %5.1fs "+format+"\n", append([]any{time.Since(e.start).Seconds()}, a...)...)
}

// workerEnv is the environment of the worker and enqueue processes.
func (e *env) workerEnv() []string {
	o := e.opts
	env := withEnv(os.Environ(),
		"REDIS_URL="+e.redisURL,
		"DATABASE_URL="+e.db.url,
		"WEBHOOK_ALLOW_PRIVATE=true",
		"HTTP_ADDR=off",
		"LOG_LEVEL=warn",
		"WORKER_CONCURRENCY="+strconv.Itoa(o.Concurrency),
		"TASK_CHECK_INTERVAL="+o.TaskCheckInterval.String(),
		"WEBHOOK_TIMEOUT="+o.WebhookTimeout.String(),
	)
	return withEnv(env, o.WorkerEnv...)
}

// requireEmpty refuses a --redis-url database that holds keys: the bench
// flushes its database between phases, and must only ever flush what it
// wrote itself.
func requireEmpty(ctx context.Context, nodes []*redis.Client) error {
	for _, n := range nodes {
		size, err := n.DBSize(ctx).Result()
		if err != nil {
			return fmt.Errorf("--redis-url: %w", err)
		}
		if size > 0 {
			return fmt.Errorf("--redis-url: database %d at %s holds %d keys; the bench flushes its database between phases, so it needs an empty one (or leave --redis-url out: it starts its own redis-server)",
				n.Options().DB, n.Options().Addr, size)
		}
	}
	return nil
}

// flush empties the Redis database (every master's) between phases: the
// bench's own server, or a --redis-url database that was empty at start
// (requireEmpty), so only keys the bench wrote are ever deleted.
func (e *env) flush(ctx context.Context) error {
	for _, n := range e.nodes {
		if err := n.FlushDB(ctx).Err(); err != nil {
			return fmt.Errorf("flush redis: %w", err)
		}
	}
	return nil
}

// logFile returns a path in the run's temp dir.
func (e *env) logFile(name string) string { return filepath.Join(e.dir, name) }
