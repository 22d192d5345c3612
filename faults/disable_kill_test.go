//go:build faults

package faults

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/internal/testsmtp"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// buildFaultWorker builds cmd/worker with the "faults" tag, whose worker
// obeys HOOKWORKER_FAULT (see tasks/disable_fault.go).
func buildFaultWorker(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-tags", "faults", "-o", dir+string(filepath.Separator), "./cmd/worker")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the faults worker: %v\n%s", err, out)
	}
	return filepath.Join(dir, "worker")
}

// TestFaultKillAfterDisableCommit kills the worker process (SIGKILL, from
// inside, at the exact point) right after it committed the disable of a
// broken app and before it enqueued the owners' e-mails. A worker started
// afterwards finds the e-mails in the outbox: each active owner gets exactly
// one, over SMTP, and nobody else gets any.
func TestFaultKillAfterDisableCommit(t *testing.T) {
	bin := buildBinaries(t)
	faultWorker := buildFaultWorker(t)
	pg := testenv.NewPostgres(t)
	smtpd := testsmtp.Start(t)
	r := newRig(t, bin, "", pg.URL,
		"SMTP_URL="+smtpd.URL(), "MAIL_FROM=hookworker@hookworker.test", "MAIL_RETRY_DELAY=100ms",
		"BASE_URL=https://sentry.example.com", "BROKEN_TIMEOUT_THRESHOLD=1", "WEBHOOK_MAX_RETRIES=0")
	// Nothing listens on the webhook's port: the first attempt is a
	// timeout, which with a threshold of 1 disables the app.
	installation := r.seed("http://"+testsmtp.ReserveAddr(t)+"/hook", "--status", "internal")
	var inst models.SentryAppInstallation
	if err := pg.DB.First(&inst, installation).Error; err != nil {
		t.Fatal(err)
	}
	owners, others := testenv.AddMembers(t, pg.DB, inst.OrganizationID)
	pending := func() int64 {
		var n int64
		if err := pg.DB.Model(&models.EmailOutbox{}).Where("enqueued_at IS NULL").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	w := startProc(t, "killed-after-commit", faultWorker, append(append([]string(nil), r.env...),
		"HOOKWORKER_FAULT="+tasks.FaultKillAfterDisableCommit))
	r.enqueue(installation, keys("kill", 1))
	err := w.wait(time.Minute)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the worker should have been killed by SIGKILL after the commit, got %v\n%s", err, w.tail(30))
	}
	var app models.SentryApp
	if err := pg.DB.First(&app, inst.SentryAppID).Error; err != nil {
		t.Fatal(err)
	}
	if len(app.Events) != 0 {
		t.Fatalf("the disable did not commit: events %v", app.Events)
	}
	if n := pending(); n != int64(len(owners)) {
		t.Fatalf("%d e-mails wait in the outbox, want %d", n, len(owners))
	}
	if n := smtpd.Count(); n != 0 {
		t.Fatalf("%d e-mails were sent before the restart", n)
	}
	killedAt := time.Now()

	next := r.startWorker("restarted")
	waitUntil(t, time.Minute, func() bool { return smtpd.Count() >= len(owners) && pending() == 0 },
		"the restarted worker sends the e-mails (sent %d of %d)", smtpd.Count(), len(owners))
	recovery := time.Since(killedAt)
	// Another restart, and a sweep by hand: nothing more is sent.
	next.signal(syscall.SIGTERM)
	_ = next.wait(30 * time.Second)
	r.startWorker("restarted-again")
	n, err := tasks.NewOutbox(pg.DB, asynq.NewClientFromRedisClient(r.rdb), zap.NewNop(), 3).Sweep(context.Background())
	if err != nil || n != 0 {
		t.Errorf("a later sweep enqueued %d e-mails (err %v), want 0", n, err)
	}
	waitUntil(t, 30*time.Second, func() bool {
		q, err := r.inspector.GetQueueInfo(tasks.QueueEmail)
		return err == nil && q.Completed == len(owners) && q.Pending+q.Active+q.Retry+q.Scheduled == 0
	}, "every e-mail task completes")
	for _, o := range owners {
		if got := len(smtpd.To(o.Email)); got != 1 {
			t.Errorf("%s got %d e-mails, want 1", o.Email, got)
		}
	}
	for _, addr := range others {
		if got := len(smtpd.To(addr)); got != 0 {
			t.Errorf("%s got %d e-mails, want none", addr, got)
		}
	}
	if n := smtpd.Count(); n != len(owners) {
		t.Errorf("%d e-mails in all, want %d", n, len(owners))
	}
	t.Logf("kill-after-disable-commit: owners=%d e-mails=%d sent %.1fs after the kill", len(owners), smtpd.Count(), recovery.Seconds())
}
