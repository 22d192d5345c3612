package worker_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testsmtp"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// waitDisabled waits until the fixture's app has its audit entry, i.e. the
// disable committed, and returns the ids of its e-mail tasks.
func (f *brkFixture) waitDisabled(t *testing.T) []string {
	t.Helper()
	f.h.waitFor(func() bool {
		var n int64
		return f.h.pg.DB.Model(&models.AuditLogEntry{}).Count(&n).Error == nil && n > 0
	}, "the app was never disabled")
	return f.emailTaskIDs(t)
}

// emailsCounted returns hookworker_emails_sent_total{result}.
func (f *brkFixture) emailsCounted(result string) float64 {
	return testutil.ToFloat64(f.h.w.Metrics.Emails.WithLabelValues(result))
}

// TestEmailRetriedUntilSMTPComesBack disables an app while the SMTP server
// is down: every e-mail task fails and is retried, and once the server is up
// each owner gets exactly one message.
func TestEmailRetriedUntilSMTPComesBack(t *testing.T) {
	t.Parallel()
	addr := testsmtp.ReserveAddr(t)
	rc := statusReceiver(t, http.StatusBadRequest)
	f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook", smtpAddr: addr,
		config: func(c *config.Config) {
			c.MailMaxRetries = 10 // backoff from 20ms doubling: ~20s in all
			c.MailRetryDelay = 20 * time.Millisecond
		}})
	f.markErrorDays(t, 1, 2, 3, 4, 5, 6)
	info := f.enqueueIssue()
	f.h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)

	ids := f.waitDisabled(t)
	f.h.waitFor(func() bool {
		for _, id := range ids {
			ti, err := f.h.inspector.GetTaskInfo(tasks.QueueEmail, id)
			if err != nil || ti.Retried < 1 {
				return false
			}
		}
		return true
	}, "every e-mail task failed at least once while SMTP was down")

	f.smtp = testsmtp.StartAt(t, addr)
	f.requireDisabled(t, disabledCheck{rc: rc})

	retried := 0
	for _, id := range ids {
		ti, err := f.h.inspector.GetTaskInfo(tasks.QueueEmail, id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, ti.Retried, 1)
		require.Equal(t, 10, ti.MaxRetry, "MAIL_MAX_RETRIES is set on the task")
		retried += ti.Retried
	}
	require.EqualValues(t, retried, f.emailsCounted("failed"), "one failed count per failed attempt")
	require.EqualValues(t, len(f.owners), f.emailsCounted("sent"))
	require.Equal(t, len(f.owners), f.smtp.Attempts(), "no attempt after the delivery")
}

// TestEmailPermanentRejectionArchived disables an app while the SMTP server
// answers 550: the e-mail tasks are archived at once with the server's
// answer, and the disable itself stands.
func TestEmailPermanentRejectionArchived(t *testing.T) {
	t.Parallel()
	rc := statusReceiver(t, http.StatusBadRequest)
	f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook"})
	f.smtp.RejectAll(550, "mailbox unavailable here")
	f.markErrorDays(t, 1, 2, 3, 4, 5, 6)
	info := f.enqueueIssue()
	f.h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)

	for _, id := range f.waitDisabled(t) {
		ti := f.h.waitState(tasks.QueueEmail, id, asynq.TaskStateArchived)
		require.Zero(t, ti.Retried, "a 5xx answer is not retried")
		require.Contains(t, ti.LastErr, "550")
		require.Contains(t, ti.LastErr, "mailbox unavailable here")
	}
	require.Equal(t, len(f.owners), f.smtp.Attempts(), "one attempt per owner")
	require.Zero(t, f.smtp.Count())
	require.EqualValues(t, len(f.owners), f.emailsCounted("failed"))
	require.Zero(t, f.emailsCounted("sent"))
	require.Equal(t, len(f.owners), f.h.logs.FilterMessage("email.rejected").Len())

	require.Equal(t, "[]", f.appEvents(t))
	require.Len(t, f.auditRows(t), 1)
	require.Empty(t, f.dayCounters(t, 0))
}

// TestEmailRetryBudgetIsTheWorkers checks that MAIL_MAX_RETRIES wins over a
// producer's larger MaxRetry: after 1+2 transient failures the task is
// archived, saying why.
func TestEmailRetryBudgetIsTheWorkers(t *testing.T) {
	t.Parallel()
	srv := testsmtp.Start(t)
	srv.RejectAll(451, "greylisted, come back later")
	sender, err := mail.NewSMTPSender(srv.URL(), brkFrom)
	require.NoError(t, err)
	h := newHarness(t, harnessOptions{mail: sender, config: func(c *config.Config) {
		c.MailMaxRetries = 2
		c.MailRetryDelay = 10 * time.Millisecond
	}})

	m, err := mail.BuildDisabledIntegration("owner@example.com", mail.DisabledIntegration{
		AppName: "acme", AppSlug: "acme", WebhookURL: "https://hooks.example.com/", OrgSlug: "org", BaseURL: brkBaseURL,
	})
	require.NoError(t, err)
	task, err := tasks.NewSendEmailTask(m, asynq.MaxRetry(25), asynq.Retention(time.Hour))
	require.NoError(t, err)
	info, err := h.client.Enqueue(task)
	require.NoError(t, err)
	require.Equal(t, tasks.QueueEmail, info.Queue)

	ti := h.waitState(tasks.QueueEmail, info.ID, asynq.TaskStateArchived)
	require.Equal(t, 2, ti.Retried)
	require.Contains(t, ti.LastErr, "giving up after 3 attempts")
	require.Contains(t, ti.LastErr, "greylisted, come back later")
	require.Equal(t, 3, srv.Attempts())
	require.Zero(t, srv.Count())
	require.EqualValues(t, 3, testutil.ToFloat64(h.w.Metrics.Emails.WithLabelValues("failed")))
	require.Zero(t, testutil.ToFloat64(h.w.Metrics.Emails.WithLabelValues("sent")))
	require.Equal(t, 1, h.logs.FilterMessage("email.retries_exhausted").Len())
}
