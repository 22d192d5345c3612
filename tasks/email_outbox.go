package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/models"
)

// OutboxSweepInterval is how often every worker looks for e-mails committed
// in the outbox but never enqueued (the process that committed them died,
// or Redis refused the enqueue). Each look is one indexed query.
const OutboxSweepInterval = time.Minute

// outboxBatch bounds the rows one query of a sweep loads.
const outboxBatch = 100

// emailRetention is how long a finished e-mail task stays in Redis, which
// is also how long asynq refuses a second task with its id.
const emailRetention = 24 * time.Hour

// Outbox turns the rows of hookworker_email_outbox into send_email tasks.
// A row is written in the same transaction as the change that calls for the
// e-mail; the worker that committed it enqueues it at once (Enqueue), and
// every worker sweeps the pending rows at start and every
// OutboxSweepInterval (Run). The task id is the row's, so however many
// workers enqueue the same row, asynq keeps one task: one e-mail.
type Outbox struct {
	db          *gorm.DB
	enqueuer    Enqueuer
	log         *zap.Logger
	mailRetries int
}

// NewOutbox returns the outbox on db, enqueuing with enq; mailRetries is
// MAIL_MAX_RETRIES, set on each task.
func NewOutbox(db *gorm.DB, enq Enqueuer, log *zap.Logger, mailRetries int) *Outbox {
	return &Outbox{db: db, enqueuer: enq, log: log, mailRetries: mailRetries}
}

// NewOutboxRow returns the outbox row of message m, to be sent once under
// task id taskID. The caller creates it in its own transaction.
func NewOutboxRow(taskID string, m mail.Message, now time.Time) (models.EmailOutbox, error) {
	if err := m.Validate(); err != nil {
		return models.EmailOutbox{}, fmt.Errorf("e-mail %s: %w", taskID, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return models.EmailOutbox{}, fmt.Errorf("encode e-mail %s: %w", taskID, err)
	}
	return models.EmailOutbox{TaskID: taskID, Message: string(b), CreatedAt: now.UTC()}, nil
}

// Enqueue enqueues each row's task and marks the row done. A task already
// in Redis under the row's id (another worker, an earlier sweep) counts as
// enqueued. It returns how many rows are now enqueued; a row that failed
// stays pending for the next sweep.
func (o *Outbox) Enqueue(ctx context.Context, rows []models.EmailOutbox) (int, error) {
	enqueued := 0
	var errs []error
	for _, r := range rows {
		if err := o.enqueueRow(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		enqueued++
	}
	return enqueued, errors.Join(errs...)
}

func (o *Outbox) enqueueRow(ctx context.Context, r models.EmailOutbox) error {
	var m mail.Message
	if err := json.Unmarshal([]byte(r.Message), &m); err != nil {
		return fmt.Errorf("outbox e-mail %s: %w", r.TaskID, err)
	}
	task, err := NewSendEmailTask(m, asynq.MaxRetry(o.mailRetries), asynq.TaskID(r.TaskID), asynq.Retention(emailRetention))
	if err != nil {
		return fmt.Errorf("outbox e-mail %s: %w", r.TaskID, err)
	}
	if _, err := o.enqueuer.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue e-mail %s: %w", r.TaskID, err)
	}
	// If this update is lost the next sweep enqueues the row again, and
	// asynq refuses the duplicate for as long as it keeps the first task.
	err = o.db.WithContext(ctx).Model(&models.EmailOutbox{}).Where("id = ? AND enqueued_at IS NULL", r.ID).
		UpdateColumn("enqueued_at", time.Now().UTC()).Error
	if err != nil {
		return fmt.Errorf("mark e-mail %s enqueued: %w", r.TaskID, err)
	}
	return nil
}

// Sweep enqueues every pending row, oldest first, and returns how many it
// enqueued. A row that fails is left for the next sweep.
func (o *Outbox) Sweep(ctx context.Context) (int, error) {
	var last int64
	total := 0
	var errs []error
	for {
		var rows []models.EmailOutbox
		err := o.db.WithContext(ctx).Where("enqueued_at IS NULL AND id > ?", last).
			Order("id").Limit(outboxBatch).Find(&rows).Error
		if err != nil {
			errs = append(errs, fmt.Errorf("load pending e-mails: %w", err))
			break
		}
		if len(rows) == 0 {
			break
		}
		n, err := o.Enqueue(ctx, rows)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
		last = rows[len(rows)-1].ID
		if len(rows) < outboxBatch {
			break
		}
	}
	return total, errors.Join(errs...)
}

// Run sweeps at once, then every interval, until ctx ends; run it in a
// goroutine. Each sweep is bounded by interval.
func (o *Outbox) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, interval)
		n, err := o.Sweep(sctx)
		cancel()
		if n > 0 {
			o.log.Info("email.outbox_swept", zap.Int("emails_enqueued", n))
		}
		if err != nil && ctx.Err() == nil {
			o.log.Error("email.outbox_sweep_failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
