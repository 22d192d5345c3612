package worker_test

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/tasks"
)

// pendingOutbox returns how many e-mails wait in the outbox.
func (f *brkFixture) pendingOutbox(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, f.h.pg.DB.Model(&models.EmailOutbox{}).Where("enqueued_at IS NULL").Count(&n).Error)
	return n
}

// TestDisableKilledAfterCommitMailsAfterRestart: the process that disabled
// the app dies between the commit and the enqueue of the e-mails. Nobody is
// told until a worker starts again; then every active owner gets exactly one
// e-mail over SMTP, however many workers start and sweep.
func TestDisableKilledAfterCommitMailsAfterRestart(t *testing.T) {
	t.Parallel()
	f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: "http://127.0.0.1:1/hook"})
	f.markErrorDays(t, 0, 1, 2, 3, 4, 5, 6)
	// The running worker is the one that dies: stopped before the disable,
	// so that none of its periodic sweeps can stand in for the restart.
	f.h.w.Shutdown()

	ctx := context.Background()
	target, err := store.New(f.h.pg.DB).Target(ctx, f.seed.InstallationID)
	require.NoError(t, err)
	d := tasks.NewDisabler(tasks.DisablerConfig{
		Store: store.New(f.h.pg.DB), Breaker: breaker.New(f.h.rdb, breaker.Options{Now: brkNow}),
		Enqueuer: f.h.client, Metrics: metrics.New(), Log: zap.NewNop(), BaseURL: brkBaseURL, MailMaxRetries: 3,
		AfterCommit: func() { panic("killed after commit") },
	})
	require.PanicsWithValue(t, "killed after commit", func() { _ = d.Disable(ctx, target) })

	require.Equal(t, "[]", f.appEvents(t), "the disable committed")
	require.Len(t, f.auditRows(t), 1)
	require.EqualValues(t, len(f.owners), f.pendingOutbox(t), "the e-mails wait in the outbox")
	queues, err := f.h.inspector.Queues()
	require.NoError(t, err)
	require.NotContains(t, queues, tasks.QueueEmail, "nothing reached Redis")
	require.Zero(t, f.smtp.Count())

	// The restart: two workers come up at once, both sweep at start.
	core, logs := observer.New(zapcore.InfoLevel)
	sender, err := mail.NewSMTPSender(f.smtp.URL(), brkFrom)
	require.NoError(t, err)
	f.h.extraWorker("restarted1", core, sender, brkNow)
	f.h.extraWorker("restarted2", core, sender, brkNow)

	for _, id := range f.emailTaskIDs(t) {
		f.h.waitState(tasks.QueueEmail, id, asynq.TaskStateCompleted)
	}
	f.h.waitFor(func() bool { return f.pendingOutbox(t) == 0 }, "the outbox is marked done")
	require.Positive(t, logs.FilterMessage("email.outbox_swept").Len(), "a restarted worker swept the outbox")
	// A third start sweeps again and finds nothing to do.
	f.h.extraWorker("restarted3", core, sender, brkNow)
	n, err := tasks.NewOutbox(f.h.pg.DB, f.h.client, zap.NewNop(), 3).Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	q, err := f.h.inspector.GetQueueInfo(tasks.QueueEmail)
	require.NoError(t, err)
	require.Equal(t, len(f.owners), q.Completed, "one e-mail task per owner: %+v", q)
	require.Zero(t, q.Pending+q.Active+q.Scheduled+q.Retry+q.Archived, "e-mail tasks: %+v", q)
	f.requireOwnerMail(t)
}
