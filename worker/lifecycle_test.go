package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/internal/testsmtp"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// holdReceiver holds every request until the test releases it, then drops
// the connection without an answer: a timeout for the breaker, at the
// moment the test chooses.
type holdReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	gates    []chan struct{}
	released int
}

func newHoldReceiver(t *testing.T) *holdReceiver {
	t.Helper()
	hr := &holdReceiver{}
	hr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate := make(chan struct{})
		hr.mu.Lock()
		hr.gates = append(hr.gates, gate)
		hr.mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(func() {
		hr.release(1 << 20)
		hr.Close()
	})
	return hr
}

// arrived returns how many requests came in.
func (hr *holdReceiver) arrived() int {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return len(hr.gates)
}

// release fails the next n requests held, in their order of arrival.
func (hr *holdReceiver) release(n int) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for ; n > 0 && hr.released < len(hr.gates); n-- {
		close(hr.gates[hr.released])
		hr.released++
	}
}

// TestReEnableSticks is the re-enable of an app disabled with deliveries
// still in flight: BROKEN_TIMEOUT_THRESHOLD=5, 25 deliveries held by the
// receiver; 5 time out and disable the app; the operator enables it; the
// other 20 time out after that; one more delivery times out. The app stays
// enabled, the audit log holds one row per transition, and each owner got
// one e-mail in all.
func TestReEnableSticks(t *testing.T) {
	t.Parallel()
	const threshold, inFlight = 5, 20
	rc := newHoldReceiver(t)
	smtpd := testsmtp.Start(t)
	sender, err := mail.NewSMTPSender(smtpd.URL(), brkFrom)
	require.NoError(t, err)
	h := newHarness(t, harnessOptions{mail: sender, config: func(c *config.Config) {
		c.BaseURL = brkBaseURL
		c.BrokenTimeoutThreshold = threshold
		c.WorkerConcurrency = threshold + inFlight + 5
		c.WebhookAppConcurrency = 0 // every delivery in flight at once
		c.WebhookTimeout = 30 * time.Second
		c.WebhookMaxRetries = 0 // one attempt per task: only the test's deliveries count
		c.CacheTTL = time.Minute
	}})
	f := &brkFixture{h: h, smtp: smtpd}
	f.seed = h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook", Name: brkAppName, Status: models.AppInternal})
	f.owners, f.others = testenv.AddMembers(t, h.pg.DB, f.seed.OrganizationID)
	restored := `["issue.created", "issue.resolved", "error.created", "comment.created", "event_alert.triggered"]`
	require.Equal(t, restored, f.appEvents(t))
	ctx := context.Background()
	timeouts := func() string {
		return h.rdb.HGet(ctx, breaker.Key(f.seed.SentryAppID, f.seed.OrganizationID, time.Now()), "timeout_count").Val()
	}
	enqueue := func(n int) []string {
		var ids []string
		for range n {
			ids = append(ids, f.h.enqueue(tasks.ResourceChange{InstallationID: f.seed.InstallationID, Event: "issue.created",
				Data: json.RawMessage(`{"issue":{"id":"1"}}`)}).ID)
		}
		return ids
	}
	waitArchived := func(ids []string) {
		for _, id := range ids {
			h.waitState(tasks.QueueAppPlatform, id, asynq.TaskStateArchived)
		}
	}

	ids := enqueue(threshold + inFlight)
	h.waitFor(func() bool { return rc.arrived() == threshold+inFlight }, "every delivery reaches the receiver")

	// Five time out: the app is disabled, with all the others in flight.
	rc.release(threshold)
	h.waitFor(func() bool { return f.appEvents(t) == "[]" }, "the app is disabled")
	require.Equal(t, threshold+inFlight, rc.arrived())

	core, logs := observer.New(zapcore.InfoLevel)
	mgr := lifecycle.NewManager(lifecycle.Deps{DB: h.pg.DB, Redis: h.rdb, Log: zap.New(core)})
	require.NoError(t, mgr.Enable(ctx, f.seed.SentryAppSlug, nil))
	require.Equal(t, restored, f.appEvents(t), "the events the app had are back")
	require.Empty(t, timeouts(), "the enable cleared the counters")

	// The 20 still in flight time out now; they started before the enable.
	rc.release(inFlight)
	waitArchived(ids)
	require.Empty(t, timeouts(), "deliveries started before the enable are not counted")
	require.Equal(t, restored, f.appEvents(t))

	// One more timeout, of a delivery started after the enable.
	next := enqueue(1)
	h.waitFor(func() bool { return rc.arrived() == threshold+inFlight+1 }, "the re-enabled app gets deliveries (the caches were told)")
	rc.release(1)
	waitArchived(next)
	require.Equal(t, "1", timeouts(), "it counts")
	require.Equal(t, restored, f.appEvents(t), "the app is still enabled")

	rows := f.auditRows(t)
	require.Len(t, rows, 2, "one audit row per transition")
	require.Equal(t, models.AuditInternalIntegrationDisabled, rows[0].Event)
	require.Equal(t, models.AuditInternalIntegrationEnabled, rows[1].Event)
	require.EqualValues(t, 1, testutil.ToFloat64(h.w.Metrics.Disabled))
	require.Equal(t, 1, h.logs.FilterMessage("sentryapp.disabled").Len())
	require.Equal(t, 1, logs.FilterMessage("sentryapp.enabled").Len())

	for _, o := range f.owners {
		h.waitState(tasks.QueueEmail, tasks.EmailTaskID(rows[0].ID, o.UserID), asynq.TaskStateCompleted)
	}
	q, err := h.inspector.GetQueueInfo(tasks.QueueEmail)
	require.NoError(t, err)
	require.Equal(t, len(f.owners), q.Completed, "one e-mail task per owner: %+v", q)
	f.requireOwnerMail(t)
}
