package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/store"
)

// Enqueuer enqueues tasks; *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Invalidator forgets cached state of an installation's app after a
// disable; the target cache implements it.
type Invalidator interface {
	InvalidateApp(appID int64)
}

// Disabler turns off a broken internal integration (flow.md §6) exactly
// once per transition: only the worker whose conditional update flips the
// app goes on to e-mail the owners, clear the breaker and write the audit
// entry.
type Disabler struct {
	store       *store.Store
	breaker     *breaker.Breaker
	enqueuer    Enqueuer
	invalidator Invalidator
	metrics     *metrics.Metrics
	log         *zap.Logger
	baseURL     string
	mailRetries int
}

// DisablerConfig holds a Disabler's dependencies.
type DisablerConfig struct {
	Store    *store.Store
	Breaker  *breaker.Breaker
	Enqueuer Enqueuer
	// Invalidator is optional.
	Invalidator Invalidator
	Metrics     *metrics.Metrics
	Log         *zap.Logger
	// BaseURL prefixes the links in the e-mail.
	BaseURL string
	// MailMaxRetries is MAIL_MAX_RETRIES, set on each e-mail task.
	MailMaxRetries int
}

// NewDisabler returns a Disabler.
func NewDisabler(c DisablerConfig) *Disabler {
	return &Disabler{
		store: c.Store, breaker: c.Breaker, enqueuer: c.Enqueuer, invalidator: c.Invalidator,
		metrics: c.Metrics, log: c.Log, baseURL: c.BaseURL, mailRetries: c.MailMaxRetries,
	}
}

// Disable runs the disable sequence for target's app if this call is the one
// that flips it. The app update and the audit entry commit together; each
// owner's e-mail task has an id derived from the audit entry, so a repeated
// enqueue after a crash cannot send a second e-mail.
func (d *Disabler) Disable(ctx context.Context, target *store.Target) error {
	now := d.breaker.Now()
	auditID, flipped, err := d.store.DisableAppAndAudit(ctx, target.AppID, target.OrganizationID, target.AppName, now)
	if err != nil {
		return err
	}
	if !flipped {
		return nil // another worker disabled it already
	}
	if d.invalidator != nil {
		d.invalidator.InvalidateApp(target.AppID)
	}
	d.metrics.Disabled.Inc()
	log := d.log.With(zap.String("sentryapp_webhook", redactURL(target.WebhookURL)), zap.String("sentryapp_slug", target.AppSlug),
		zap.String("sentryapp_uuid", target.AppUUID), zap.Int64("org_id", target.OrganizationID))

	var errs []error
	if err := d.notifyOwners(ctx, target, auditID); err != nil {
		errs = append(errs, err)
	}
	if err := d.breaker.Clear(ctx, target.AppID, target.OrganizationID); err != nil {
		errs = append(errs, err)
	}
	log.Info("sentryapp.disabled", zap.Int64("audit_log_entry_id", auditID))
	return errors.Join(errs...)
}

func (d *Disabler) notifyOwners(ctx context.Context, target *store.Target, auditID int64) error {
	orgSlug, err := d.store.OrganizationSlug(ctx, target.OrganizationID)
	if err != nil {
		return err
	}
	owners, err := d.store.Owners(ctx, target.OrganizationID)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range owners {
		msg, err := mail.BuildDisabledIntegration(o.Email, mail.DisabledIntegration{
			AppName: target.AppName, AppSlug: target.AppSlug, WebhookURL: target.WebhookURL,
			OrgSlug: orgSlug, BaseURL: d.baseURL,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("build e-mail for user %d: %w", o.UserID, err))
			continue
		}
		task, err := NewSendEmailTask(msg, asynq.MaxRetry(d.mailRetries),
			asynq.TaskID("integration-disabled:"+strconv.FormatInt(auditID, 10)+":"+strconv.FormatInt(o.UserID, 10)),
			asynq.Retention(24*time.Hour))
		if err != nil {
			errs = append(errs, fmt.Errorf("e-mail task for user %d: %w", o.UserID, err))
			continue
		}
		if _, err := d.enqueuer.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			errs = append(errs, fmt.Errorf("enqueue e-mail for user %d: %w", o.UserID, err))
		}
	}
	return errors.Join(errs...)
}
