package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/embedded"
	"github.com/hookworker/hookworker/ingest"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/redisconn"
	"github.com/hookworker/hookworker/worker"
)

// opsShutdownTimeout bounds how long the operator server waits for requests
// in flight (a metrics scrape, a UI page) at shutdown.
const opsShutdownTimeout = 5 * time.Second

// serve runs the worker and the operator HTTP server until SIGINT or SIGTERM.
// When next is not nil (a terminal), it prints there what to do next.
func serve(cfg config.Config, log *zap.Logger, next io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if !strings.EqualFold(cfg.HTTPAddr, "off") {
		// Refuse an open operator server before connecting to anything.
		if err := ops.CheckExposure(cfg.HTTPAddr, cfg.OpsBasicAuth, cfg.OpsInsecure); err != nil {
			return err
		}
	}

	redisURL := cfg.RedisURL
	if redisURL == "" {
		emb, err := embedded.StartRedis(cfg.EmbeddedRedisAddr, 100*time.Millisecond)
		if err != nil {
			return err
		}
		defer emb.Close()
		redisURL = emb.URL()
		if err := emb.Advertise(embedded.AddrFile); err != nil {
			log.Warn("embedded.not_advertised", zap.Error(err)) // enqueue then needs EMBEDDED_REDIS_ADDR
		}
		log.Warn("embedded.mode: REDIS_URL is unset, so queues live in an in-process Redis and are lost when the worker stops; this mode is for trying hookworker out",
			zap.String("embedded_redis_addr", emb.Addr()))
	}
	rdb, err := connectRedis(ctx, redisURL, cfg.WorkerConcurrency)
	if err != nil {
		return err
	}
	defer rdb.Close()

	db, err := openDB(cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db) //nolint:errcheck // closing at exit

	m := metrics.New()
	w, err := worker.New(worker.Deps{Config: cfg, Redis: rdb, DB: db, Log: log, Metrics: m})
	if err != nil {
		return err
	}
	opsServer, err := startOps(cfg, rdb, redisURL, db, m, log)
	if err != nil {
		return err
	}
	ingestServer, err := startIngest(cfg, rdb, m, log)
	if err != nil {
		if opsServer != nil {
			opsServer.Shutdown(context.Background()) //nolint:errcheck // already failing
		}
		return err
	}
	if err := w.Start(); err != nil {
		if opsServer != nil {
			opsServer.Shutdown(context.Background()) //nolint:errcheck // already failing
		}
		ingestServer.shutdown(log)
		return err
	}
	log.Info("worker.started", zap.Int("concurrency", cfg.WorkerConcurrency), zap.Int("fetchers", cfg.WorkerFetchers), zap.String("redis", redisLabel(redisURL)),
		zap.String("database", databaseLabel(cfg)), zap.Bool("smtp", cfg.SMTPURL != ""))
	if next != nil {
		fmt.Fprint(next, nextSteps(cfg))
	}

	<-ctx.Done()
	stop() // a second signal now ends the process at once
	log.Info("worker.stopping", zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
	if opsServer != nil {
		sctx, cancel := context.WithTimeout(context.Background(), opsShutdownTimeout)
		if err := opsServer.Shutdown(sctx); err != nil {
			log.Warn("ops.shutdown", zap.Error(err))
		}
		cancel()
	}
	ingestServer.shutdown(log)
	w.Shutdown()
	log.Info("worker.stopped")
	return nil
}

// ingestListener is the HTTP ingest API's server (nil when INGEST_ADDR is
// off).
type ingestListener struct {
	srv     *http.Server
	handler *ingest.Handler
	done    chan struct{}
}

// startIngest starts the HTTP ingest API on INGEST_ADDR, or returns nil
// when it is off.
func startIngest(cfg config.Config, rdb redis.UniversalClient, m *metrics.Metrics, log *zap.Logger) (*ingestListener, error) {
	if !cfg.IngestOn() {
		return nil, nil
	}
	h, err := ingest.New(ingest.Config{Redis: rdb, Tokens: cfg.IngestTokens, MaxPayloadBytes: cfg.MaxPayloadBytes,
		MaxRetry: cfg.WebhookMaxRetries, Registerer: m.Registry})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.IngestAddr)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("ingest API: listen on INGEST_ADDR %s: %w", cfg.IngestAddr, err)
	}
	l := &ingestListener{handler: h, done: make(chan struct{}), srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ingest.serve_failed", zap.Error(err))
		}
	}()
	log.Info("ingest.listening", zap.String("addr", ln.Addr().String()))
	return l, nil
}

// shutdown stops accepting ingest requests and lets those in flight finish.
func (l *ingestListener) shutdown(log *zap.Logger) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opsShutdownTimeout)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		log.Warn("ingest.shutdown", zap.Error(err))
	}
	<-l.done
	l.handler.Close() //nolint:errcheck // closing at exit
}

// startOps starts the operator HTTP server on HTTP_ADDR, or returns nil when
// HTTP_ADDR is "off".
func startOps(cfg config.Config, rdb redis.UniversalClient, redisURL string, db *gorm.DB, m *metrics.Metrics, log *zap.Logger) (*ops.Server, error) {
	if strings.EqualFold(cfg.HTTPAddr, "off") {
		log.Info("ops.disabled: HTTP_ADDR is off, so there is no /healthz, /readyz, /metrics or /monitoring/")
		return nil, nil
	}
	console, err := newConsole(cfg, db, rdb, log.Named("console"))
	if err != nil {
		return nil, err
	}
	s, err := ops.New(ops.Options{
		Addr: cfg.HTTPAddr, BasicAuth: cfg.OpsBasicAuth, ReadOnly: cfg.OpsReadOnly,
		Insecure: cfg.OpsInsecure, AllowedHosts: cfg.OpsAllowedHosts, Console: console,
		Redis: rdb, RedisURL: redisURL, PingDB: ops.PingGorm(db), Gatherer: m.Registry, Log: log.Named("ops"),
	})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Shutdown(context.Background()) //nolint:errcheck // already failing
		return nil, err
	}
	return s, nil
}

// connectRedis opens a client for REDIS_URL (one node, Sentinel or
// cluster) sized for the worker's concurrency and checks that Redis answers.
func connectRedis(ctx context.Context, rawURL string, concurrency int) (redis.UniversalClient, error) {
	o, err := redisconn.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	rdb := redisconn.NewClient(o, func(u *redis.UniversalOptions) {
		// A task holds a connection only for its few short Redis calls, so
		// the pool need not grow with the concurrency (on a cluster or
		// Sentinel this is per node).
		u.PoolSize = min(concurrency+20, 256)
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", o, err)
	}
	return rdb, nil
}

// openDB opens and migrates the database. Migrating on every start keeps the
// embedded SQLite file usable without a separate step; on PostgreSQL it is
// a no-op once `worker migrate` has run.
func openDB(cfg config.Config, log *zap.Logger) (*gorm.DB, error) {
	db, err := models.Open(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := models.Migrate(db); err != nil {
		closeDB(db) //nolint:errcheck // already failing
		return nil, err
	}
	log.Debug("database.ready", zap.String("database", databaseLabel(cfg)))
	return db, nil
}

func closeDB(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// nextSteps is the first run's guide, printed on a terminal once the
// worker is up: the commands of the README's walkthrough, aimed at this
// worker's Redis, and the operator UI's address.
func nextSteps(cfg config.Config) string {
	env := ""
	if defaults, err := config.Load(func(string) string { return "" }); cfg.RedisURL == "" && (err != nil || cfg.EmbeddedRedisAddr != defaults.EmbeddedRedisAddr) {
		env = "EMBEDDED_REDIS_ADDR=" + cfg.EmbeddedRedisAddr + " "
	}
	var b strings.Builder
	b.WriteString("\nhookworker is running. Next, in other terminals")
	if cfg.RedisURL != "" || cfg.DatabaseURL != "" {
		b.WriteString(" (with this worker's REDIS_URL and DATABASE_URL)")
	}
	b.WriteString(":\n")
	b.WriteString("  go run ./cmd/receiver --secret <client_secret>    # a receiver on 127.0.0.1:9999 that verifies signatures\n")
	fmt.Fprintf(&b, "  %sgo run ./cmd/worker seed --webhook-url http://127.0.0.1:9999/hook    # prints installation_id and client_secret\n", env)
	fmt.Fprintf(&b, "  %sgo run ./cmd/enqueue resource-change --installation-id <installation_id> --event issue.created --data '{\"issue\":{\"id\":\"1\"}}'\n", env)
	if !cfg.WebhookAllowPrivate {
		b.WriteString("  (this worker refuses loopback receivers: restart it with WEBHOOK_ALLOW_PRIVATE=true to deliver to 127.0.0.1, local development only)\n")
	}
	if !strings.EqualFold(cfg.HTTPAddr, "off") {
		addr := cfg.HTTPAddr
		if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		fmt.Fprintf(&b, "  queue UI: http://%s/monitoring/    metrics: http://%s/metrics\n", addr, addr)
	}
	b.WriteString("\n")
	return b.String()
}

// redisLabel is the Redis for logs: the URL without its password, and
// the mode (single, sentinel, cluster).
func redisLabel(raw string) string {
	o, err := redisconn.Parse(raw)
	if err != nil {
		return config.Redact(raw)
	}
	return o.String() + " (" + o.Mode().String() + ")"
}

func databaseLabel(cfg config.Config) string {
	if cfg.DatabaseURL == "" {
		return "sqlite:" + models.EmbeddedDatabaseFile
	}
	return config.Redact(cfg.DatabaseURL)
}
