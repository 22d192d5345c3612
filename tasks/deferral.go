package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/producer"
	"github.com/hookworker/hookworker/store"
)

// A deferred delivery is not a failure, so it must not go through asynq's
// retry path (the Retry tab, a retry spent, an error message). The
// Deliverer schedules a copy of the task instead — same type, payload and
// queue, a task id derived from the delivery id — and finishes the
// original. The copy carries in its headers what must survive it:
const (
	// HeaderDeliveryID is the delivery's id (the original task's id): the
	// Hookworker-Delivery-ID every attempt sends, deferred or not.
	HeaderDeliveryID = "hookworker-delivery-id"
	// HeaderRetried is how many retries the delivery had spent before the
	// copy was made; asynq counts the copy's own from 0.
	HeaderRetried = "hookworker-retried"
	// HeaderDeferrals is how many times the delivery has been deferred.
	HeaderDeferrals = "hookworker-deferrals"
)

// delivery is what a task says about the delivery it carries.
type delivery struct {
	id        string
	retried   int // retries spent, before and since the last deferral
	deferrals int
}

// deliveryOf reads t's delivery: its id, retries and deferrals, from the
// headers of a deferred copy or from asynq for an original task.
func deliveryOf(ctx context.Context, t *asynq.Task) delivery {
	var d delivery
	d.id, _ = asynq.GetTaskID(ctx)
	d.retried, _ = asynq.GetRetryCount(ctx)
	h := t.Headers()
	if id := h[HeaderDeliveryID]; id != "" {
		d.id = id
	}
	if n, err := strconv.Atoi(h[HeaderRetried]); err == nil && n > 0 {
		d.retried += n
	}
	if n, err := strconv.Atoi(h[HeaderDeferrals]); err == nil && n > 0 {
		d.deferrals = n
	}
	return d
}

// DeferredTaskID is the task id of a delivery's n-th deferred copy. It
// differs from every earlier copy's, so the copy can be scheduled while
// the task it replaces is still active.
func DeferredTaskID(deliveryID string, n int) string {
	return deliveryID + ".deferred-" + strconv.Itoa(n)
}

// deferTimeout bounds scheduling a deferred copy.
const deferTimeout = 5 * time.Second

// deferDelivery schedules t's copy busy.delay from now and counts the
// deferral; the caller then finishes t. A copy that already exists (this
// very task redelivered after a crash between the two steps) counts as
// scheduled.
func (d *Deliverer) deferDelivery(ctx context.Context, log *taskLog, t *asynq.Task, target *store.Target, busy appBusy) error {
	if d.enqueuer == nil {
		return errors.New("no enqueuer to schedule deferred deliveries")
	}
	del := deliveryOf(ctx, t)
	queue, _ := asynq.GetQueueName(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	ownRetried, _ := asynq.GetRetryCount(ctx)
	n := del.deferrals + 1
	copyTask := asynq.NewTaskWithHeaders(t.Type(), t.Payload(), map[string]string{
		HeaderDeliveryID: del.id,
		HeaderRetried:    strconv.Itoa(del.retried),
		HeaderDeferrals:  strconv.Itoa(n),
	},
		asynq.TaskID(DeferredTaskID(del.id, n)), asynq.Queue(queue),
		// asynq's own limit on the copy: what is left of the task's.
		asynq.MaxRetry(max(0, maxRetry-ownRetried)),
		asynq.Timeout(producer.TaskTimeout), // as every resource-change task
		asynq.ProcessIn(busy.delay))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deferTimeout)
	defer cancel()
	if _, err := d.enqueuer.EnqueueContext(ctx, copyTask); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule deferred delivery %s: %w", del.id, err)
	}
	d.metrics.Deferred.WithLabelValues(integrationLabel(target)).Inc()
	log.debug("send_webhooks.deferred", zap.String("delivery_id", del.id), zap.Int("deferrals", n),
		zap.Int("app_limit", busy.limit), zap.Int("app_in_flight", busy.inFlight),
		zap.Duration("mean_age", busy.meanAge), zap.Duration("delay", busy.delay))
	return nil
}

// AppLimit returns app's state in this Deliverer's per-app limit; ok is
// false when the limiter does not know the app (or is off).
func (d *Deliverer) AppLimit(app int64) (AppLimit, bool) { return d.slots.snapshot(app) }
