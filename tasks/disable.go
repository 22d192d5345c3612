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
	"github.com/hookworker/hookworker/config"
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

// postCommitTimeout bounds the steps after the disable committed (loading
// the owners, enqueuing their e-mails, clearing the breaker). They run on a
// context detached from the task's, so that a shutdown or task deadline
// arriving right after the commit does not skip the e-mails.
const postCommitTimeout = 30 * time.Second

// EmailTaskID returns the asynq task id of the "integration disabled" e-mail
// to userID for the disable recorded by audit entry auditID. It is
// deterministic so that enqueuing the same e-mail twice is refused by asynq
// (ErrTaskIDConflict) instead of sending it twice.
func EmailTaskID(auditID, userID int64) string {
	return "integration-disabled:" + strconv.FormatInt(auditID, 10) + ":" + strconv.FormatInt(userID, 10)
}

// Disable runs the disable sequence (flow.md §6) for target's app if this
// call is the one that flips it, and does nothing when the app was already
// disabled (a concurrent worker, or a redelivered task, got there first).
// In order: the app's events are emptied and the audit entry written in one
// transaction; one e-mail task per active owner is enqueued; the 30 daily
// breaker keys are deleted; `sentryapp.disabled` is logged. Errors after
// the commit are joined and returned, but the app stays disabled.
func (d *Disabler) Disable(ctx context.Context, target *store.Target) error {
	now := d.breaker.Now()
	auditID, flipped, err := d.store.DisableAppAndAudit(ctx, target.AppID, target.OrganizationID, target.AppName, now)
	if err != nil {
		return err
	}
	if !flipped {
		// Another worker, or an earlier run of this task, disabled it.
		d.log.Debug("sentryapp.disable_skipped", zap.String("sentryapp_slug", target.AppSlug),
			zap.Int64("org_id", target.OrganizationID))
		return nil
	}
	if d.invalidator != nil {
		d.invalidator.InvalidateApp(target.AppID)
	}
	d.metrics.Disabled.Inc()
	log := d.log.With(zap.String("sentryapp_webhook", config.Redact(target.WebhookURL)), zap.String("sentryapp_slug", target.AppSlug),
		zap.String("sentryapp_uuid", target.AppUUID), zap.Int64("org_id", target.OrganizationID))

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postCommitTimeout)
	defer cancel()
	var errs []error
	emails, err := d.notifyOwners(ctx, target, auditID)
	if err != nil {
		errs = append(errs, err)
	}
	if err := d.breaker.Clear(ctx, target.AppID, target.OrganizationID); err != nil {
		errs = append(errs, err)
	}
	log.Info("sentryapp.disabled", zap.Int64("audit_log_entry_id", auditID), zap.Int("emails_enqueued", emails))
	return errors.Join(errs...)
}

// notifyOwners enqueues one e-mail task per active owner and returns how many
// it enqueued (a task already enqueued under the same id counts too).
func (d *Disabler) notifyOwners(ctx context.Context, target *store.Target, auditID int64) (int, error) {
	orgSlug, err := d.store.OrganizationSlug(ctx, target.OrganizationID)
	if err != nil {
		return 0, err
	}
	owners, err := d.store.Owners(ctx, target.OrganizationID)
	if err != nil {
		return 0, err
	}
	enqueued := 0
	var errs []error
	for _, o := range owners {
		// The webhook URL is redacted: e-mails are stored in mailboxes and,
		// without SMTP_URL, written to the log.
		msg, err := mail.BuildDisabledIntegration(o.Email, mail.DisabledIntegration{
			AppName: target.AppName, AppSlug: target.AppSlug, WebhookURL: config.Redact(target.WebhookURL),
			OrgSlug: orgSlug, BaseURL: d.baseURL,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("build e-mail for user %d: %w", o.UserID, err))
			continue
		}
		task, err := NewSendEmailTask(msg, asynq.MaxRetry(d.mailRetries),
			asynq.TaskID(EmailTaskID(auditID, o.UserID)), asynq.Retention(24*time.Hour))
		if err != nil {
			errs = append(errs, fmt.Errorf("e-mail task for user %d: %w", o.UserID, err))
			continue
		}
		if _, err := d.enqueuer.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			errs = append(errs, fmt.Errorf("enqueue e-mail for user %d: %w", o.UserID, err))
			continue
		}
		enqueued++
	}
	return enqueued, errors.Join(errs...)
}
