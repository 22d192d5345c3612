// Command worker runs hookworker: it delivers resource-change webhooks and
// sends e-mails from asynq queues. `worker migrate` creates the schema,
// `worker seed` creates a working installation.
//
// Data flow: config → connections (Redis, database) → handlers and asynq
// server (package worker) → operator HTTP server → wait for a signal.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/embedded"
	"github.com/hookworker/hookworker/internal/logging"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/worker"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr sync errors are not actionable

	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return serve(cfg, log)
	case "migrate":
		db, err := openDB(cfg, log)
		if err != nil {
			return err
		}
		log.Info("migrate.done")
		return closeDB(db)
	case "seed":
		return seed(cfg, log, args, os.Stdout)
	case "help", "-h", "--help":
		fmt.Fprint(os.Stderr, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage:
  worker                 run the worker (both queues, operator HTTP server)
  worker migrate         create or update the database schema, then exit
  worker seed --webhook-url URL [--name NAME] [--status internal|published|unpublished]
              [--events a.b,c.d] [--owner-email ADDR] [--project-ids 1,2]
                         create a working installation and print it as JSON
Settings come from the environment; see README.md.
`

// serve runs the worker until SIGINT or SIGTERM.
func serve(cfg config.Config, log *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	redisURL := cfg.RedisURL
	if redisURL == "" {
		emb, err := embedded.StartRedis(cfg.EmbeddedRedisAddr, 100*time.Millisecond)
		if err != nil {
			return err
		}
		defer emb.Close()
		redisURL = emb.URL()
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

	w, err := worker.New(worker.Deps{Config: cfg, Redis: rdb, DB: db, Log: log})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	log.Info("worker.started", zap.Int("concurrency", cfg.WorkerConcurrency), zap.String("redis", config.Redact(redisURL)),
		zap.String("database", databaseLabel(cfg)), zap.Bool("smtp", cfg.SMTPURL != ""))

	<-ctx.Done()
	log.Info("worker.stopping", zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
	w.Shutdown()
	log.Info("worker.stopped")
	return nil
}

// connectRedis opens a client sized for the worker's concurrency and checks
// that Redis answers.
func connectRedis(ctx context.Context, rawURL string, concurrency int) (*redis.Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %v", errors.Unwrap(err))
	}
	opt.PoolSize = concurrency + 20
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", opt.Addr, err)
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

func databaseLabel(cfg config.Config) string {
	if cfg.DatabaseURL == "" {
		return "sqlite:" + models.EmbeddedDatabaseFile
	}
	return config.Redact(cfg.DatabaseURL)
}
