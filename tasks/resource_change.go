package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/internal/clamp"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/webhook"
)

// Deliverer is the handler of send_resource_change_webhook: flow.md §1.
type Deliverer struct {
	targets    store.Loader
	sender     *webhook.Sender
	reqlog     *requestlog.Writer
	breaker    *breaker.Breaker
	disabler   *Disabler
	metrics    *metrics.Metrics
	log        *zap.Logger
	maxRetries int
	maxPayload int
	slots      *appSlots
	enqueuer   Enqueuer
	bulk       *bulkDeferrer // nil: no bulk moves
}

// bodyOverhead is what a webhook body adds to its data and actor: the
// action, the installation and the keys.
const bodyOverhead = 160

// DelivererConfig holds a Deliverer's dependencies and settings.
type DelivererConfig struct {
	// Targets loads installations: the store, or the cache in front of it.
	Targets store.Loader
	Sender  *webhook.Sender
	// RequestLog writes each attempt's request-log entry and breaker
	// counter; its owner closes it after the server stopped.
	RequestLog *requestlog.Writer
	Breaker    *breaker.Breaker
	Disabler   *Disabler
	Metrics    *metrics.Metrics
	Log        *zap.Logger
	// MaxRetries is WEBHOOK_MAX_RETRIES: retries after the first attempt.
	MaxRetries int
	// MaxPayloadBytes is MAX_PAYLOAD_BYTES.
	MaxPayloadBytes int
	// AppConcurrency is WEBHOOK_APP_CONCURRENCY: every app's first limit of
	// deliveries in flight at once in this Deliverer, which then adapts to
	// how the app answers (see appSlots); 0 means no limit.
	AppConcurrency int
	// MaxAppConcurrency is the most an app's limit grows to: the worker
	// passes WORKER_CONCURRENCY.
	MaxAppConcurrency int
	// AppBusyDelay is WEBHOOK_TIMEOUT: the first deferral's delay and the
	// time a stuck app needs to free its slots. An app looks stuck once its
	// deliveries in flight have been running for AppBusyDelay/4 on average.
	AppBusyDelay time.Duration
	// Enqueuer schedules deferred deliveries (the worker's asynq client);
	// without it, a delivery over the limit is sent anyway.
	Enqueuer Enqueuer
	// Redis, when set, is the asynq Redis, in which a stuck app's backlog
	// is moved aside in bulk (see deferral_bulk.go).
	Redis redis.Scripter
}

// NewDeliverer returns the resource-change handler.
func NewDeliverer(c DelivererConfig) *Deliverer {
	var bulk *bulkDeferrer
	if c.Redis != nil && c.Enqueuer != nil {
		bulk = &bulkDeferrer{rdb: c.Redis, running: map[int64]bool{}, next: map[int64]time.Time{}}
	}
	return &Deliverer{
		targets: c.Targets, sender: c.Sender, reqlog: c.RequestLog, breaker: c.Breaker, disabler: c.Disabler,
		metrics: c.Metrics, log: c.Log, maxRetries: c.MaxRetries, maxPayload: c.MaxPayloadBytes,
		enqueuer: c.Enqueuer, bulk: bulk,
		slots: newAppSlots(appSlotsConfig{
			Initial: c.AppConcurrency, Max: c.MaxAppConcurrency, StuckAge: c.AppBusyDelay / 4,
			Pace: c.AppBusyDelay, MaxDefer: maxDeferral * c.AppBusyDelay,
		}),
	}
}

// ProcessTask delivers one resource-change webhook. It returns nil for
// everything that is finished (delivered, 4xx, nothing to send), a
// PermanentError for what must be archived, and a plain or RetryAfterError
// for what is worth another attempt; the error's text is cut to
// clamp.ErrorBytes (asynq keeps it in Redis).
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	return clamp.Error(d.process(ctx, t))
}

func (d *Deliverer) process(ctx context.Context, t *asynq.Task) error {
	p, err := DecodeResourceChange(t.Payload(), d.maxPayload)
	if err != nil {
		d.metrics.Rejected.WithLabelValues(t.Type()).Inc()
		d.log.Warn("send_resource_change_webhook.bad_payload", zap.Error(err))
		return Permanent(err)
	}
	log := &taskLog{l: d.log, fields: []zap.Field{zap.Int64("installation_id", p.InstallationID), zap.String("event", p.Event)}}

	target, err := d.targets.Target(ctx, p.InstallationID)
	if errors.Is(err, store.ErrNotFound) {
		log.info("send_process_resource_change_webhook.missing_installation")
		return nil
	}
	if err != nil {
		// The database is down or slow: worth another attempt, within the budget.
		return d.retryOrGiveUp(ctx, log, t, err)
	}
	if target.HookID == 0 {
		log.info("send_webhooks.missing_servicehook")
		return nil
	}
	if !target.HookEvents.Contains(p.Event) {
		return nil
	}
	if len(target.AppEvents) == 0 {
		log.info("send_webhooks.app_disabled", zap.String("sentry_app", target.AppSlug))
		return nil
	}
	if len(target.ProjectIDs) > 0 && (p.ProjectID == nil || !slices.Contains(target.ProjectIDs, *p.ProjectID)) {
		log.info("send_webhooks.project_not_allowed", zap.Int64s("allowed_project_ids", target.ProjectIDs), zap.Any("project_id", p.ProjectID))
		return nil
	}
	if target.WebhookURL == "" {
		log.warn("send_webhooks.missing_webhook_url", zap.String("sentry_app", target.AppSlug))
		return nil
	}
	sl, ok, busy := d.slots.acquire(ctx, target.AppID)
	if !ok {
		if err := d.deferDelivery(ctx, log, t, target, busy); err == nil {
			if busy.stuck {
				queue, _ := asynq.GetQueueName(ctx)
				d.bulkDefer(queue, target, p.InstallationID)
			}
			return nil
		} else if ctx.Err() != nil {
			return ctx.Err() // shutting down: back to the queue as it is
		} else {
			// Scheduling the copy failed (Redis trouble): deliver over the
			// limit rather than lose or fail the delivery.
			log.warn("send_webhooks.defer_failed", zap.Error(err))
		}
	}
	failed := true // a panic counts as a failure
	defer func() { d.slots.release(sl, failed) }()
	return d.deliver(ctx, log, t, p, target, &failed)
}

// maxDeferral bounds a deferral, in units of AppBusyDelay.
const maxDeferral = 60

// deliver sends the webhook and sets *failed to whether the receiver
// failed (timeout, connection error, 5xx, 429): what shrinks its app's
// limit.
func (d *Deliverer) deliver(ctx context.Context, log *taskLog, t *asynq.Task, p ResourceChange, target *store.Target, failed *bool) error {
	*failed = false
	resource, action, _ := event.Parse(p.Event) // validated by DecodeResourceChange
	// A fresh buffer per delivery, not a pooled one: the transport may
	// still be writing the body after Send returns (webhook.Request.Body).
	buf := bytes.NewBuffer(make([]byte, 0, len(p.Data)+len(p.Actor)+bodyOverhead))
	if err := webhook.AppendBody(buf, action, target.InstallationUUID, p.Data, p.Actor); err != nil {
		return Permanent(err)
	}
	deliveryID := deliveryOf(ctx, t).id
	now := time.Now()
	resp, sendErr := d.sender.Send(ctx, webhook.Request{
		URL: target.WebhookURL, Resource: resource, Body: buf.Bytes(), Secret: target.ClientSecret,
		DeliveryID: deliveryID, Now: now,
	})
	log.fields = append(log.fields, zap.String("sentry_app", target.AppSlug), zap.String("delivery_id", clamp.String(deliveryID, clamp.IDBytes)))
	log.webhookURL = target.WebhookURL

	var invalid *webhook.InvalidURLError
	var unbuildable *webhook.RequestError
	switch {
	case errors.As(sendErr, &unbuildable):
		// Our fault (a task id with CR/LF, a host net/http refuses): nothing
		// was sent, so neither the request log nor the breaker hears of it.
		d.metrics.Rejected.WithLabelValues(t.Type()).Inc()
		log.warn("send_webhooks.bad_request", zap.Error(sendErr))
		return Permanent(sendErr)
	case netguard.IsRefused(sendErr), errors.As(sendErr, &invalid):
		d.metrics.Refused.Inc()
		log.warn("send_webhooks.destination_refused", zap.Error(sendErr))
		return Permanent(sendErr)
	case sendErr != nil && ctx.Err() != nil:
		return ctx.Err() // shutdown or task deadline: back to the queue
	}

	code := resp.StatusCode
	*failed = sendErr != nil || code >= 500 || code == 429
	d.observe(target, p.Event, code, sendErr, resp.Duration)
	outcome := breaker.Classify(code)
	counted := breaker.Counts(target.AppStatus, p.Event)
	d.record(ctx, log, target, p.Event, now, resp, buf.Bytes(), counted, outcome)

	if counted && (outcome == breaker.Error || outcome == breaker.Timeout) {
		d.checkBroken(ctx, log, target)
	}
	return d.outcome(ctx, log, t, p.Event, code, resp, sendErr)
}

// record writes the request log entry and the breaker counter in one Redis
// command. It runs even when the task's context has just been cancelled (a
// shutdown right after the POST), so the attempt is not lost. A failure is
// logged, not returned: the webhook was sent, and retrying would send it
// again.
func (d *Deliverer) record(ctx context.Context, log *taskLog, target *store.Target, ev string, started time.Time,
	resp *webhook.Response, body []byte, counted bool, outcome breaker.Outcome) {
	entry := requestlog.NewEntry(requestlog.Attempt{
		// Dated now, after the answer or the timeout, as Sentry dates
		// entries; the breaker's fence check uses the start.
		Time: time.Now(), ResponseCode: resp.StatusCode, WebhookURL: target.WebhookURL, OrganizationID: target.OrganizationID,
		Internal: target.AppStatus == models.AppInternal, RequestHeader: resp.RequestHeader, RequestBody: body,
		ResponseHeader: resp.Header, ResponseBody: resp.Body,
	})
	var counter *requestlog.Counter
	if counted {
		if inc, ok := d.breaker.Increment(target.AppID, target.OrganizationID, outcome, started); ok {
			c := requestlog.Counter(inc)
			counter = &c
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := d.reqlog.Write(ctx, target.AppID, ev, entry, counter); err != nil {
		log.error("request_log.write_failed", zap.Error(err))
	}
}

// recordTimeout bounds the request-log write of one attempt.
const recordTimeout = 5 * time.Second

func (d *Deliverer) checkBroken(ctx context.Context, log *taskLog, target *store.Target) {
	broken, err := d.breaker.Broken(ctx, target.AppID, target.OrganizationID)
	if err != nil {
		log.error("breaker.check_failed", zap.Error(err))
		return
	}
	if !broken {
		return
	}
	if err := d.disabler.Disable(ctx, target); err != nil {
		log.error("sentryapp.disable_failed", zap.Error(err))
	}
}

// outcome maps the attempt's result to the task's next state (flow.md §3).
// As in Sentry, only 400–599 are failed answers: any other code (1xx–3xx,
// and 600 or more, which Go accepts up to 999) finishes the task.
func (d *Deliverer) outcome(ctx context.Context, log *taskLog, t *asynq.Task, ev string, code int, resp *webhook.Response, sendErr error) error {
	var err error
	switch {
	case sendErr != nil:
		err = sendErr
	case code < 400 || code > 599:
		d.metrics.Processed.WithLabelValues(ev).Inc()
		return nil
	case code == 429:
		err = fmt.Errorf("webhook answered 429 Too Many Requests")
		if delay, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			err = &RetryAfterError{Delay: delay, Err: err}
		}
	case code < 500:
		log.info("send_webhooks.client_error", zap.Int("status", code))
		return nil
	default:
		err = fmt.Errorf("webhook answered %d", code)
	}
	return d.retryOrGiveUp(ctx, log, t, err)
}

// retryOrGiveUp returns err for another attempt, or archives the task once
// WEBHOOK_MAX_RETRIES retries are spent, whatever MaxRetry the producer set
// (retries spent before a deferral count: see deliveryOf).
func (d *Deliverer) retryOrGiveUp(ctx context.Context, log *taskLog, t *asynq.Task, err error) error {
	retried := deliveryOf(ctx, t).retried
	if retried >= d.maxRetries {
		log.warn("send_webhooks.retries_exhausted", zap.Int("attempts", retried+1), zap.Error(err))
		return Permanent(fmt.Errorf("giving up after %d attempts: %w", retried+1, err))
	}
	log.info("send_webhooks.retry", zap.Int("attempt", retried+1), zap.Error(err))
	return err
}

func (d *Deliverer) observe(target *store.Target, ev string, code int, sendErr error, dur time.Duration) {
	status := strconv.Itoa(code)
	var te *webhook.TransportError
	if errors.As(sendErr, &te) {
		status = "connectionerror"
		if te.Timeout {
			status = "timeout"
		}
	}
	d.metrics.Responses.WithLabelValues(status, integrationLabel(target), ev).Inc()
	d.metrics.Duration.Observe(dur.Seconds())
}

// integrationLabel is the metrics' label for target's app: its status
// (internal, unpublished), or its slug once published.
func integrationLabel(target *store.Target) string {
	switch target.AppStatus {
	case models.AppInternal:
		return "internal"
	case models.AppUnpublished:
		return "unpublished"
	}
	return target.AppSlug
}

// taskLog carries the fields of one task's log lines without encoding them
// until a line is written: most deliveries log nothing, and zap's With
// would encode the fields on every task.
type taskLog struct {
	l      *zap.Logger
	fields []zap.Field
	// webhookURL is redacted only when a line is written.
	webhookURL string
}

func (t *taskLog) write(level zapcore.Level, msg string, extra []zap.Field) {
	ce := t.l.Check(level, msg)
	if ce == nil {
		return
	}
	fields := append(append([]zap.Field(nil), t.fields...), extra...)
	if t.webhookURL != "" {
		fields = append(fields, zap.String("webhook_url", config.Redact(t.webhookURL)))
	}
	ce.Write(fields...)
}

func (t *taskLog) debug(msg string, f ...zap.Field) { t.write(zapcore.DebugLevel, msg, f) }
func (t *taskLog) info(msg string, f ...zap.Field)  { t.write(zapcore.InfoLevel, msg, f) }
func (t *taskLog) warn(msg string, f ...zap.Field)  { t.write(zapcore.WarnLevel, msg, f) }
func (t *taskLog) error(msg string, f ...zap.Field) { t.write(zapcore.ErrorLevel, msg, f) }
