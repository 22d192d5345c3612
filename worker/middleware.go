package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/tasks"
)

// HandlerTimeout bounds one run of any handler, whatever timeout or
// deadline the task carries (tasks from producers other than hookworker's
// may carry none, and asynq would then allow 30 minutes). A delivery needs
// at most WEBHOOK_TIMEOUT plus a few seconds to record it; the rest is
// margin for a slow database.
const HandlerTimeout = 2 * time.Minute

// knownTypes archives a task whose type no handler serves, at once, with a
// warning and a count: asynq's own answer is an error that is retried for
// hours without a word. The check is exact, where asynq's mux matches
// prefixes.
func knownTypes(log *zap.Logger, m *metrics.Metrics, types ...string) asynq.MiddlewareFunc {
	known := make(map[string]bool, len(types))
	for _, t := range types {
		known[t] = true
	}
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if known[t.Type()] {
				return next.ProcessTask(ctx, t)
			}
			id, _ := asynq.GetTaskID(ctx)
			queue, _ := asynq.GetQueueName(ctx)
			typ := quoteCapped(t.Type())
			log.Warn("task.unknown_type", zap.String("task_type", typ), zap.String("task_id", quoteCapped(id)),
				zap.String("queue", queue))
			m.Rejected.WithLabelValues("unknown").Inc()
			return tasks.Permanent(fmt.Errorf("unknown task type %s", typ))
		})
	}
}

// boundTime gives every handler run a deadline of at most limit.
func boundTime(limit time.Duration) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			ctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			return next.ProcessTask(ctx, t)
		})
	}
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

// quoteCapped quotes at most 40 bytes of s, a value that came from outside
// (a task's type or id), so a log line or task error cannot be made huge.
func quoteCapped(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}
