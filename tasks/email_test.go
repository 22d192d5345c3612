package tasks_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/internal/testsmtp"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/tasks"
)

// disabledMail builds the e-mail the Disabler sends, to to.
func disabledMail(t *testing.T, to string) mail.Message {
	t.Helper()
	m, err := mail.BuildDisabledIntegration(to, mail.DisabledIntegration{
		AppName: "acme hooks", AppSlug: "acme-hooks", WebhookURL: "https://hooks.example.com/in?a=1&b=<2>",
		OrgSlug: "acme", BaseURL: "https://sentry.example.com",
	})
	require.NoError(t, err)
	return m
}

// mailerBundle is a Mailer on a real SMTP server.
type mailerBundle struct {
	smtp    *testsmtp.Server
	metrics *metrics.Metrics
	logs    *observer.ObservedLogs
	mailer  *tasks.Mailer
}

func setupMailer(t *testing.T, smtpURL string, maxRetries int) *mailerBundle {
	t.Helper()
	b := &mailerBundle{metrics: metrics.New()}
	if smtpURL == "" {
		b.smtp = testsmtp.Start(t)
		smtpURL = b.smtp.URL()
	}
	sender, err := mail.NewSMTPSender(smtpURL, "Hookworker <noreply@hookworker.test>")
	require.NoError(t, err)
	core, logs := observer.New(zapcore.DebugLevel)
	b.logs = logs
	b.mailer = tasks.NewMailer(sender, b.metrics, zap.New(core), maxRetries)
	return b
}

func (b *mailerBundle) count(result string) float64 {
	return testutil.ToFloat64(b.metrics.Emails.WithLabelValues(result))
}

func emailTask(t *testing.T, m mail.Message) *asynq.Task {
	t.Helper()
	task, err := tasks.NewSendEmailTask(m)
	require.NoError(t, err)
	return task
}

func TestNewSendEmailTask(t *testing.T) {
	t.Parallel()
	m := disabledMail(t, "owner@example.com")
	task := emailTask(t, m)
	require.Equal(t, "email:send_email", task.Type())
	require.Equal(t, tasks.TypeSendEmail, task.Type())
	// The payload is not HTML-escaped: the web app and people read it as is.
	require.Contains(t, string(task.Payload()), "https://hooks.example.com/in?a=1&b=<2>")
	require.False(t, strings.HasSuffix(string(task.Payload()), "\n"))

	_, err := tasks.NewSendEmailTask(mail.Message{To: "not an address", Subject: "s", Text: "t"})
	require.ErrorIs(t, err, mail.ErrInvalidMessage)

	// The task goes to the email queue.
	info, err := asynq.NewClientFromRedisClient(testenv.NewRedis(t).Client).Enqueue(task)
	require.NoError(t, err)
	require.Equal(t, tasks.QueueEmail, info.Queue)
}

func TestMailerSends(t *testing.T) {
	t.Parallel()
	b := setupMailer(t, "", 5)
	m := disabledMail(t, "Owner <owner@example.com>")

	require.NoError(t, b.mailer.ProcessTask(context.Background(), emailTask(t, m)))
	got := b.smtp.Messages()
	require.Len(t, got, 1)
	require.NoError(t, got[0].ParseErr)
	require.Equal(t, []string{"owner@example.com"}, got[0].To)
	require.Equal(t, "Action required: Fix your Acme Hooks integration", got[0].Subject)
	require.Contains(t, got[0].Text, "https://hooks.example.com/in?a=1&b=<2>")
	require.EqualValues(t, 1, b.count("sent"))
	require.Zero(t, b.count("failed"))
	require.Equal(t, 1, b.logs.FilterMessage("email.sent").Len())
}

// TestConsoleMailerSaysLogged: without SMTP_URL an e-mail is printed, and
// the log line says so rather than claiming it was sent.
func TestConsoleMailerSaysLogged(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	mailer := tasks.NewMailer(mail.NewConsoleSender(zap.New(core), "Hookworker <noreply@hookworker.test>"), metrics.New(), zap.New(core), 3)
	require.NoError(t, mailer.ProcessTask(context.Background(), emailTask(t, disabledMail(t, "owner@example.com"))))
	require.Equal(t, 1, logs.FilterMessage("email.logged").Len())
	require.Zero(t, logs.FilterMessage("email.sent").Len())
}

func TestMailerPermanentRejectionIsArchived(t *testing.T) {
	t.Parallel()
	b := setupMailer(t, "", 5)
	b.smtp.RejectAll(550, "mailbox owner@example.com unavailable")

	err := b.mailer.ProcessTask(context.Background(), emailTask(t, disabledMail(t, "owner@example.com")))
	require.ErrorIs(t, err, asynq.SkipRetry, "a 5xx answer is not retried")
	var perm *tasks.PermanentError
	require.ErrorAs(t, err, &perm)
	require.ErrorContains(t, err, "550")
	require.ErrorContains(t, err, "mailbox owner@example.com unavailable")
	require.Zero(t, b.smtp.Count())
	require.EqualValues(t, 1, b.count("failed"))
	require.Zero(t, b.count("sent"))
	require.Equal(t, 1, b.logs.FilterMessage("email.rejected").Len())
}

func TestMailerTransientFailureIsRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string // returns SMTP_URL
	}{
		{"server down", func(t *testing.T) string { return "smtp://" + testsmtp.ReserveAddr(t) }},
		{"451 answer", func(t *testing.T) string {
			s := testsmtp.Start(t)
			s.RejectAll(451, "greylisted, try again later")
			return s.URL()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupMailer(t, tc.setup(t), 5)
			err := b.mailer.ProcessTask(context.Background(), emailTask(t, disabledMail(t, "owner@example.com")))
			require.Error(t, err)
			require.NotErrorIs(t, err, asynq.SkipRetry, "a transient failure is retried: %v", err)
			require.EqualValues(t, 1, b.count("failed"))
			require.Equal(t, 1, b.logs.FilterMessage("email.retry").Len())
		})
	}
}

func TestMailerRetryBudgetSpent(t *testing.T) {
	t.Parallel()
	// Outside a server the retry count reads 0, so a budget of 0 is spent.
	b := setupMailer(t, "smtp://"+testsmtp.ReserveAddr(t), 0)
	err := b.mailer.ProcessTask(context.Background(), emailTask(t, disabledMail(t, "owner@example.com")))
	require.ErrorIs(t, err, asynq.SkipRetry)
	require.ErrorContains(t, err, "giving up after 1 attempts")
	require.Equal(t, 1, b.logs.FilterMessage("email.retries_exhausted").Len())
}

func TestMailerRejectsBadPayload(t *testing.T) {
	t.Parallel()
	for name, payload := range map[string]string{
		"not JSON":      `{"to":`,
		"no recipient":  `{"subject":"s","text":"t"}`,
		"no subject":    `{"to":"owner@example.com","text":"t"}`,
		"no body":       `{"to":"owner@example.com","subject":"s"}`,
		"header inject": `{"to":"owner@example.com","subject":"s","text":"t","headers":{"X-A":"1\r\nBcc: x@example.com"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupMailer(t, "", 5)
			err := b.mailer.ProcessTask(context.Background(), asynq.NewTask(tasks.TypeSendEmail, []byte(payload)))
			require.ErrorIs(t, err, asynq.SkipRetry)
			require.ErrorContains(t, err, "e-mail payload")
			require.EqualValues(t, 1, testutil.ToFloat64(b.metrics.Rejected.WithLabelValues(tasks.TypeSendEmail)))
			require.Zero(t, b.smtp.Attempts())
		})
	}
}

func TestMailerCancelledContext(t *testing.T) {
	t.Parallel()
	b := setupMailer(t, "", 5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.mailer.ProcessTask(ctx, emailTask(t, disabledMail(t, "owner@example.com")))
	require.True(t, errors.Is(err, context.Canceled), "err = %v", err)
	require.Zero(t, b.smtp.Count())
}
