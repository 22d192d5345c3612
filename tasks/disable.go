package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
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
	outbox      *Outbox
	invalidator Invalidator
	metrics     *metrics.Metrics
	log         *zap.Logger
	baseURL     string
	afterCommit func()
}

// DisablerConfig holds a Disabler's dependencies.
type DisablerConfig struct {
	Store    *store.Store
	Breaker  *breaker.Breaker
	Enqueuer Enqueuer
	// Outbox enqueues the e-mails committed with the disable; nil builds
	// one on Store's database and Enqueuer.
	Outbox *Outbox
	// Invalidator is optional.
	Invalidator Invalidator
	Metrics     *metrics.Metrics
	Log         *zap.Logger
	// BaseURL prefixes the links in the e-mail.
	BaseURL string
	// MailMaxRetries is MAIL_MAX_RETRIES, set on each e-mail task.
	MailMaxRetries int
	// AfterCommit, when set, runs right after the disable's transaction
	// committed and before anything else: tests make it panic or block to
	// stand for a process killed at that point. Nil in production.
	AfterCommit func()
}

// NewDisabler returns a Disabler.
func NewDisabler(c DisablerConfig) *Disabler {
	outbox := c.Outbox
	if outbox == nil {
		outbox = NewOutbox(c.Store.DB(), c.Enqueuer, c.Log, c.MailMaxRetries)
	}
	return &Disabler{
		store: c.Store, breaker: c.Breaker, outbox: outbox, invalidator: c.Invalidator,
		metrics: c.Metrics, log: c.Log, baseURL: c.BaseURL, afterCommit: c.AfterCommit,
	}
}

// postCommitTimeout bounds the steps after the disable committed (enqueuing
// the e-mails, clearing the breaker). They run on a context detached from
// the task's, so that a shutdown or task deadline arriving right after the
// commit does not skip them.
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
// disabled (a concurrent worker, or a redelivered task, got there first) or
// is no longer broken (re-enabled since the caller looked).
// In order: one transaction empties the app's events, records the events
// it had (for a re-enable), writes the audit entry and one outbox row per
// active owner's e-mail; then the e-mails are enqueued from the outbox,
// the breaker is reset (keys deleted, fences and epoch moved) and `sentryapp.disabled`
// is logged. Errors after the commit are joined and returned, but the app
// stays disabled, and e-mails not enqueued stay in the outbox for the next
// sweep.
func (d *Disabler) Disable(ctx context.Context, target *store.Target) error {
	now := d.breaker.Now()
	c, err := d.commit(ctx, target, now)
	if err != nil {
		return err
	}
	if !c.flipped {
		// Another worker, or an earlier run of this task, disabled it.
		d.log.Debug("sentryapp.disable_skipped", zap.String("sentryapp_slug", target.AppSlug),
			zap.Int64("org_id", target.OrganizationID))
		return nil
	}
	faultAfterDisableCommit()
	if d.afterCommit != nil {
		d.afterCommit()
	}
	if d.invalidator != nil {
		d.invalidator.InvalidateApp(target.AppID)
	}
	d.metrics.Disabled.Inc()
	log := d.log.With(zap.String("sentryapp_webhook", config.Redact(target.WebhookURL)), zap.String("sentryapp_slug", target.AppSlug),
		zap.String("sentryapp_uuid", target.AppUUID), zap.Int64("org_id", target.OrganizationID))

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postCommitTimeout)
	defer cancel()
	errs := c.errs
	emails, err := d.outbox.Enqueue(ctx, c.outbox)
	if err != nil {
		errs = append(errs, err)
	}
	if err := d.breaker.Clear(ctx, target.AppID, target.OrganizationID); err != nil {
		errs = append(errs, err)
	}
	log.Info("sentryapp.disabled", zap.Int64("audit_log_entry_id", c.auditID), zap.Int("emails_enqueued", emails))
	return errors.Join(errs...)
}

// committed is what the disable's transaction did.
type committed struct {
	flipped bool
	auditID int64
	outbox  []models.EmailOutbox
	// errs are e-mails that could not be built (the others go on).
	errs []error
}

// commit is the disable's transaction: if the app still has events and the
// breaker still finds it broken, it empties them (conditionally, under the
// row lock on PostgreSQL, so of concurrent callers exactly one flips the
// app, and none flips it again on a decision taken before a re-enable
// committed), records them in
// hookworker_app_disables, writes the INTERNAL_INTEGRATION_DISABLED audit
// entry and one outbox row per active owner. All or nothing.
func (d *Disabler) commit(ctx context.Context, target *store.Target, now time.Time) (committed, error) {
	var c committed
	err := d.store.DB().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c = committed{}
		var app models.SentryApp
		q := tx.Select("id", "events").Where("id = ?", target.AppID)
		if tx.Dialector.Name() == "postgres" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Take(&app).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil // deleted meanwhile: nothing to disable
			}
			return fmt.Errorf("disable app %d: %w", target.AppID, err)
		}
		if len(app.Events) == 0 {
			return nil
		}
		// The caller found the app broken before this transaction; an
		// operator may have re-enabled it since (and reset its counters).
		// Asked again under the row lock, the answer cannot be that stale.
		broken, err := d.breaker.Broken(ctx, target.AppID, target.OrganizationID)
		if err != nil {
			return err
		}
		if !broken {
			return nil
		}
		res := tx.Model(&models.SentryApp{}).Where("id = ? AND events <> ?", target.AppID, models.StringList{}).
			UpdateColumn("events", models.StringList{})
		if res.Error != nil {
			return fmt.Errorf("disable app %d: %w", target.AppID, res.Error)
		}
		if res.RowsAffected != 1 {
			return nil
		}
		org := target.OrganizationID
		audit := models.AuditLogEntry{
			OrganizationID: org, ActorLabel: "Sentry", TargetObject: org,
			Event: models.AuditInternalIntegrationDisabled, Data: models.JSONObject{"name": target.AppName}, Datetime: now.UTC(),
		}
		if err := tx.Create(&audit).Error; err != nil {
			return fmt.Errorf("write audit entry for organization %d: %w", org, err)
		}
		rec := models.AppDisable{SentryAppID: target.AppID, OrganizationID: org, AuditLogEntryID: audit.ID,
			Events: app.Events, DisabledAt: now.UTC()}
		if err := tx.Create(&rec).Error; err != nil {
			return fmt.Errorf("record events of app %d: %w", target.AppID, err)
		}
		rows, errs, err := d.ownerEmails(ctx, store.New(tx), target, audit.ID, now)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			if err := tx.Create(&rows).Error; err != nil {
				return fmt.Errorf("write e-mails to the outbox: %w", err)
			}
		}
		c = committed{flipped: true, auditID: audit.ID, outbox: rows, errs: errs}
		return nil
	})
	if err != nil {
		return committed{}, err
	}
	return c, nil
}

// ownerEmails builds the outbox rows of the e-mails to the active owners of
// target's organization. An e-mail that cannot be built is reported in
// errs and skipped; err is for the queries.
func (d *Disabler) ownerEmails(ctx context.Context, st *store.Store, target *store.Target, auditID int64, now time.Time) (rows []models.EmailOutbox, errs []error, err error) {
	orgSlug, err := st.OrganizationSlug(ctx, target.OrganizationID)
	if err != nil {
		return nil, nil, err
	}
	owners, err := st.Owners(ctx, target.OrganizationID)
	if err != nil {
		return nil, nil, err
	}
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
		row, err := NewOutboxRow(EmailTaskID(auditID, o.UserID), msg, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("e-mail task for user %d: %w", o.UserID, err))
			continue
		}
		rows = append(rows, row)
	}
	return rows, errs, nil
}
