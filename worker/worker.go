// Package worker assembles hookworker's task handlers on an asynq server:
// from a configuration and open connections to a running worker. The worker
// command and the end-to-end tests both build it here.
package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/version"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// Deps are the connections and collaborators a Worker uses. Config, Redis,
// DB and Log are required; the others default.
type Deps struct {
	Config config.Config
	Redis  *redis.Client
	DB     *gorm.DB
	Log    *zap.Logger
	// Metrics defaults to a new set.
	Metrics *metrics.Metrics
	// Mail defaults to the sender SMTP_URL names (console without it).
	Mail mail.Sender
	// Now is the breaker's clock; defaults to time.Now.
	Now func() time.Time
}

// Worker is a configured asynq server with hookworker's handlers.
type Worker struct {
	server  *asynq.Server
	client  *asynq.Client
	mux     *asynq.ServeMux
	sender  *webhook.Sender
	Metrics *metrics.Metrics
	// Deliverer handles resource-change tasks.
	Deliverer *tasks.Deliverer
	log       *zap.Logger
}

// New builds the handlers and the server; nothing runs until Start.
func New(d Deps) (*Worker, error) {
	c := d.Config
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
	})
	st := store.New(d.DB)
	brk := breaker.New(d.Redis, breaker.Options{Now: d.Now, TimeoutThreshold: c.BrokenTimeoutThreshold})
	client := asynq.NewClientFromRedisClient(d.Redis)
	disabler := tasks.NewDisabler(tasks.DisablerConfig{
		Store: st, Breaker: brk, Enqueuer: client, Metrics: d.Metrics, Log: d.Log,
		BaseURL: c.BaseURL, MailMaxRetries: c.MailMaxRetries,
	})
	deliverer := tasks.NewDeliverer(tasks.DelivererConfig{
		Targets: st, Sender: sender, Redis: d.Redis, Breaker: brk, Disabler: disabler,
		Metrics: d.Metrics, Log: d.Log, MaxRetries: c.WebhookMaxRetries, MaxPayloadBytes: c.MaxPayloadBytes,
	})
	mailer := tasks.NewMailer(d.Mail, d.Metrics, d.Log.Named("mail"), c.MailMaxRetries)

	mux := asynq.NewServeMux()
	mux.Use(recoverPanics(d.Log))
	mux.Handle(tasks.TypeResourceChange, deliverer)
	mux.Handle(tasks.TypeSendEmail, mailer)

	policy := tasks.RetryPolicy{WebhookDelay: c.WebhookRetryDelay, MailDelay: c.MailRetryDelay}
	server := asynq.NewServerFromRedisClient(d.Redis, asynq.Config{
		Concurrency:              c.WorkerConcurrency,
		Queues:                   map[string]int{tasks.QueueAppPlatform: 6, tasks.QueueEmail: 1},
		RetryDelayFunc:           policy.Delay,
		ShutdownTimeout:          c.ShutdownTimeout,
		TaskCheckInterval:        c.TaskCheckInterval,
		DelayedTaskCheckInterval: c.DelayedTaskCheckInterval,
		Logger:                   d.Log.Named("asynq").WithOptions(zap.AddCallerSkip(1)).Sugar(),
		LogLevel:                 asynqLevel(d.Log.Level()),
	})
	return &Worker{server: server, client: client, mux: mux, sender: sender, Metrics: d.Metrics, Deliverer: deliverer, log: d.Log}, nil
}

// Start starts processing tasks in the background.
func (w *Worker) Start() error {
	if err := w.server.Start(w.mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	return nil
}

// Shutdown stops fetching, waits up to the shutdown timeout for in-flight
// tasks and returns the rest to their queue, then releases connections it
// opened (not the shared Redis client or database).
func (w *Worker) Shutdown() {
	w.server.Shutdown()
	w.client.Close()
	w.sender.Close()
}

// recoverPanics turns a handler panic into an archived task whose error says
// what happened, instead of a retry loop on the same input.
func recoverPanics(log *zap.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
			defer func() {
				if r := recover(); r != nil {
					id, _ := asynq.GetTaskID(ctx)
					log.Error("task.panic", zap.String("task_type", t.Type()), zap.String("task_id", id),
						zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
					err = tasks.Permanent(fmt.Errorf("handler panicked: %v", r))
				}
			}()
			return next.ProcessTask(ctx, t)
		})
	}
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
