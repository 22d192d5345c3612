// Package worker assembles hookworker's task handlers on an asynq server:
// from a configuration and open connections to a running worker. The worker
// command and the end-to-end tests both build it here.
package worker

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/clamp"
	"github.com/hookworker/hookworker/internal/version"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// Deps are the connections and collaborators a Worker uses. Config, Redis,
// DB and Log are required; the others default.
type Deps struct {
	Config config.Config
	// Redis is one node, a Sentinel-backed or a cluster client (see package
	// redisconn); the worker never closes it.
	Redis redis.UniversalClient
	DB    *gorm.DB
	Log   *zap.Logger
	// Metrics defaults to a new set.
	Metrics *metrics.Metrics
	// Mail defaults to the sender SMTP_URL names (console without it).
	Mail mail.Sender
	// Now is the breaker's clock; defaults to time.Now.
	Now func() time.Time
}

// Worker is a configured asynq server with hookworker's handlers.
type Worker struct {
	pool    *fetcherPool
	client  *asynq.Client
	mux     *asynq.ServeMux
	sender  *webhook.Sender
	Metrics *metrics.Metrics
	// Deliverer handles resource-change tasks.
	Deliverer *tasks.Deliverer
	log       *zap.Logger
	reqlog    *requestlog.Writer
	// cache is nil when CACHE_TTL is 0.
	cache      *store.Cache
	rdb        redis.UniversalClient
	stopListen context.CancelFunc
	listening  chan struct{}
	// outbox is swept at Start and every tasks.OutboxSweepInterval until
	// Shutdown.
	outbox    *tasks.Outbox
	stopSweep context.CancelFunc
	sweeping  chan struct{}
	// inFlight and started count the tasks the handlers run and began;
	// requeued those cut short by a shutdown.
	inFlight, started, requeued atomic.Int64
	stopping                    atomic.Bool
	shutdownTimeout             time.Duration
}

// New builds the handlers and the server; nothing runs until Start.
func New(d Deps) (*Worker, error) {
	c := d.Config
	// No log message or error field grows with its input (asynq's lines
	// quote producer-chosen task ids): see docs/security.md.
	d.Log = d.Log.WithOptions(zap.WrapCore(clamp.Core))
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.Mail == nil {
		m, err := mail.NewSender(c.SMTPURL, c.MailFrom, d.Log.Named("mail"))
		if err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
		d.Mail = m
	}
	guard := netguard.New(c.WebhookAllowPrivate, c.WebhookAllowedNetworks)
	sender := webhook.NewSender(webhook.Options{
		Timeout: c.WebhookTimeout, Guard: guard, UserAgent: "hookworker/" + version.Version,
		// One host may receive for many apps: keep a connection alive for
		// every slot rather than reconnect under load.
		MaxConnsPerHost:     c.WorkerConcurrency,
		OmitStandardHeaders: !c.WebhookStandardHeaders,
	})
	st := store.New(d.DB)
	var targets store.Loader = st
	var invalidator tasks.Invalidator
	var cache *store.Cache
	if c.CacheTTL > 0 {
		cache = store.NewCache(st, c.CacheTTL, 10000)
		targets = cache
		invalidator = broadcaster{cache: cache, rdb: d.Redis, log: d.Log}
	}
	brk := breaker.New(d.Redis, breaker.Options{Now: d.Now, TimeoutThreshold: c.BrokenTimeoutThreshold})
	client := asynq.NewClientFromRedisClient(d.Redis)
	servers := pipelined(d.Redis)
	outbox := tasks.NewOutbox(d.DB, client, d.Log.Named("mail"), c.MailMaxRetries)
	disabler := tasks.NewDisabler(tasks.DisablerConfig{
		Store: st, Breaker: brk, Enqueuer: client, Outbox: outbox, Invalidator: invalidator, Metrics: d.Metrics, Log: d.Log,
		BaseURL: c.BaseURL, MailMaxRetries: c.MailMaxRetries,
	})
	reqlog := requestlog.NewWriter(d.Redis)
	deliverer := tasks.NewDeliverer(tasks.DelivererConfig{
		Targets: targets, Sender: sender, RequestLog: reqlog, Breaker: brk, Disabler: disabler,
		Metrics: d.Metrics, Log: d.Log, MaxRetries: c.WebhookMaxRetries, MaxPayloadBytes: c.MaxPayloadBytes,
		AppConcurrency: c.WebhookAppConcurrency, MaxAppConcurrency: c.WorkerConcurrency, AppBusyDelay: c.WebhookTimeout,
		Enqueuer: asynq.NewClientFromRedisClient(servers), Redis: d.Redis,
	})
	mailer := tasks.NewMailer(d.Mail, d.Metrics, d.Log.Named("mail"), c.MailMaxRetries)

	w := &Worker{reqlog: reqlog, client: client, sender: sender, cache: cache, rdb: d.Redis,
		Metrics: d.Metrics, Deliverer: deliverer, log: d.Log, shutdownTimeout: c.ShutdownTimeout, outbox: outbox}
	mux := asynq.NewServeMux()
	mux.Use(w.track, recoverPanics(d.Log), knownTypes(d.Log, d.Metrics, tasks.TypeResourceChange, tasks.TypeSendEmail),
		boundTime(HandlerTimeout))
	mux.Handle(tasks.TypeResourceChange, deliverer)
	mux.Handle(tasks.TypeSendEmail, mailer)
	w.mux = mux

	policy := tasks.RetryPolicy{WebhookDelay: c.WebhookRetryDelay, MailDelay: c.MailRetryDelay}
	fetchers := max(1, min(c.WorkerFetchers, c.WorkerConcurrency))
	// asynq's own start and stop lines would repeat once per server, and
	// its "All workers have finished" speaks for one server only: it logs
	// warnings and errors, and the Worker says what the process does.
	asynqLog := d.Log.Named("asynq").WithOptions(zap.AddCallerSkip(1)).Sugar()
	level := max(asynqLevel(d.Log.Level()), asynq.WarnLevel)
	share := c.WorkerConcurrency / fetchers // fetchers ≤ WORKER_CONCURRENCY
	newServer := func(kind serverKind) *asynq.Server {
		cfg := asynq.Config{
			// Every extra server holds the same share, the always-on one
			// the rest: together, WORKER_CONCURRENCY.
			Concurrency:              c.WorkerConcurrency - (fetchers-1)*share,
			Queues:                   map[string]int{tasks.QueueAppPlatform: 1},
			RetryDelayFunc:           policy.Delay,
			ShutdownTimeout:          c.ShutdownTimeout,
			TaskCheckInterval:        c.TaskCheckInterval,
			DelayedTaskCheckInterval: c.DelayedTaskCheckInterval,
			Logger:                   asynqLog,
			LogLevel:                 level,
		}
		switch kind {
		case extraServer:
			// Extras run only while tasks flow: a short poll then is what
			// keeps the pick-up latency low.
			cfg.Concurrency = share
			cfg.TaskCheckInterval = max(time.Millisecond, c.TaskCheckInterval/extraPollDivisor)
		case quietBaseServer:
			// A doorbell wakes the pool when tasks arrive (fetchers.go):
			// this poll is only the fallback.
			cfg.TaskCheckInterval = c.TaskCheckInterval * mailPollFactor
		case wakeServer:
			cfg.Concurrency = share
		case mailServer:
			// E-mails are rare (an app disabled) and not urgent: their own
			// few slots, polled seldom, so an idle worker does not poll two
			// queues at the webhook pace.
			cfg.Concurrency = min(c.WorkerConcurrency, mailConcurrency)
			cfg.Queues = map[string]int{tasks.QueueEmail: 1}
			cfg.TaskCheckInterval = c.TaskCheckInterval * mailPollFactor
			cfg.DelayedTaskCheckInterval = c.DelayedTaskCheckInterval * mailForwardFactor
		}
		return asynq.NewServerFromRedisClient(servers, cfg)
	}
	w.pool = &fetcherPool{newServer: newServer, handler: mux, rdb: d.Redis, max: fetchers, log: d.Log,
		started: &w.started, inFlight: &w.inFlight, woken: make(chan struct{}, 1)}
	return w, nil
}

// Start starts processing tasks and sweeping the e-mail outbox in the
// background (and, with the cache on, listening for other workers'
// invalidations).
func (w *Worker) Start() error {
	if w.cache != nil {
		ctx, cancel := context.WithCancel(context.Background())
		w.stopListen, w.listening = cancel, make(chan struct{})
		ready := make(chan struct{})
		go func() {
			defer close(w.listening)
			w.cache.Listen(ctx, w.rdb, w.log, ready)
		}()
		// Deliver only once no invalidation can be missed; if Redis is slow
		// to confirm, start anyway (the cache's TTL still bounds staleness).
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			w.log.Warn("cache.subscription_not_confirmed", zap.Duration("waited", 5*time.Second))
		}
	}
	if err := w.pool.start(); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	// E-mails committed by a process that died before enqueuing them.
	ctx, cancel := context.WithCancel(context.Background())
	w.stopSweep, w.sweeping = cancel, make(chan struct{})
	go func() {
		defer close(w.sweeping)
		w.outbox.Run(ctx, tasks.OutboxSweepInterval)
	}()
	return nil
}

// Fetchers is how many asynq servers the worker runs now: 1 while idle,
// up to WORKER_FETCHERS under load.
func (w *Worker) Fetchers() int { return w.pool.running() }

// InFlight is how many tasks the worker's handlers are running.
func (w *Worker) InFlight() int { return int(w.inFlight.Load()) }

// track counts the tasks in flight and begun (what the fetcher pool scales
// on), and those a shutdown cut short.
func (w *Worker) track(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.started.Add(1)
		w.inFlight.Add(1)
		w.pool.wake()
		defer w.inFlight.Add(-1)
		err := next.ProcessTask(ctx, t)
		if ctx.Err() != nil && w.stopping.Load() {
			w.requeued.Add(1)
		}
		return err
	})
}

// Shutdown stops fetching, waits up to the shutdown timeout for in-flight
// tasks and returns the rest to their queue, then releases connections it
// opened (not the shared Redis client or database).
func (w *Worker) Shutdown() {
	start := time.Now()
	w.stopping.Store(true)
	w.log.Info("worker.draining", zap.Int64("in_flight", w.inFlight.Load()), zap.Int("fetchers", w.pool.running()),
		zap.Duration("shutdown_timeout", w.shutdownTimeout))
	w.pool.shutdown()
	w.log.Info("worker.drained", zap.Int64("returned_to_queue", w.requeued.Load()), zap.Int64("in_flight", w.inFlight.Load()),
		zap.Duration("took", time.Since(start)))
	w.reqlog.Close() // after the servers: their last attempts are written
	if w.stopSweep != nil {
		w.stopSweep()
		<-w.sweeping
	}
	if w.stopListen != nil {
		w.stopListen()
		<-w.listening
	}
	w.client.Close()
	w.sender.Close()
}

func asynqLevel(l zapcore.Level) asynq.LogLevel {
	switch {
	case l <= zapcore.DebugLevel:
		return asynq.DebugLevel
	case l == zapcore.InfoLevel:
		return asynq.InfoLevel
	case l == zapcore.WarnLevel:
		return asynq.WarnLevel
	default:
		return asynq.ErrorLevel
	}
}

// broadcaster forgets an app in this worker's cache and tells every other
// worker to do the same, so a disabled app gets nothing anywhere.
type broadcaster struct {
	cache *store.Cache
	rdb   redis.Cmdable
	log   *zap.Logger
}

func (b broadcaster) InvalidateApp(appID int64) {
	b.cache.InvalidateApp(appID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := store.PublishInvalidation(ctx, b.rdb, appID); err != nil {
		b.log.Error("cache.invalidation_not_published", zap.Int64("sentry_app_id", appID), zap.Error(err))
	}
}

// pipelined returns the client the worker's asynq servers and its
// deferrals share: go-redis's auto-pipeliner on rdb, so that commands sent at
// the same moment by different goroutines leave in one write and come back
// in one read. asynq fetches each task with one script and acknowledges it
// with another, one round trip each: at thousands of deliveries a second
// those round trips (two syscalls on each side) were the largest cost of
// the worker and of Redis. Through the auto-pipeliner the fetches and
// acknowledgements of every server and slot in flight share round trips,
// while a lone command is sent at once (it waits for no batch). Two batches
// may be in flight at once, so a fetch loop waits for at most the batch
// ahead of its own; the order between goroutines, which that gives up,
// means nothing here (each caller waits for its own command). The
// auto-pipeliner belongs to rdb, which closes it; rdb caches it, so a later
// AutoPipeline call on rdb (the ingest API's) gets the same one. Where rdb
// has none (a client type go-redis does not pipeline), rdb is returned.
func pipelined(rdb redis.UniversalClient) redis.UniversalClient {
	c, ok := rdb.(interface {
		AutoPipelineWithOptions(*redis.AutoPipelineOptions) (*redis.AutoPipeliner, error)
	})
	if !ok {
		return rdb
	}
	opts := redis.DefaultBlockingAutoPipelineOptions()
	opts.MaxConcurrentBatches, opts.Unordered = 2, true
	ap, err := c.AutoPipelineWithOptions(opts)
	if err != nil {
		return rdb
	}
	return ap
}
