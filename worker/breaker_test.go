package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
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
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/store"
	"github.com/hookworker/hookworker/tasks"
)

// brkNow is the breaker clock of these tests (the harness's now): a fixed
// instant, so the daily keys are known in advance.
func brkNow() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

const (
	brkBaseURL = "https://sentry.example.com"
	brkAppName = "my-app2go hooks"
	brkSubject = "Action required: Fix your My-App2Go Hooks integration"
	brkFrom    = "Hookworker <noreply@hookworker.test>"
)

// brkOwner is an organization owner who must get the e-mail.
type brkOwner = testenv.Recipient

// brkFixture is a running worker with an installation whose organization
// has the full cast of members, and the SMTP server its e-mails go to.
type brkFixture struct {
	h      *harness
	smtp   *testsmtp.Server // nil when the test starts it itself
	seed   models.SeedResult
	owners []brkOwner
	others []string // addresses that must never get the e-mail
}

// brkOptions configure newBrkFixture.
type brkOptions struct {
	status     int
	webhookURL string
	config     func(*config.Config)
	// smtpAddr is the SMTP server's address when the test starts it
	// later (testsmtp.ReserveAddr); empty starts one now.
	smtpAddr string
	// redis is the harness's Redis topology (nil: a test Redis database).
	redis func(t *testing.T) redis.UniversalClient
}

func newBrkFixture(t *testing.T, o brkOptions) *brkFixture {
	t.Helper()
	f := &brkFixture{}
	addr := o.smtpAddr
	if addr == "" {
		f.smtp = testsmtp.Start(t)
		addr = f.smtp.Addr()
	}
	sender, err := mail.NewSMTPSender("smtp://"+addr, brkFrom)
	require.NoError(t, err)
	f.h = newHarness(t, harnessOptions{
		config: func(c *config.Config) {
			c.BaseURL = brkBaseURL
			if o.config != nil {
				o.config(c)
			}
		},
		mail:  sender,
		now:   brkNow,
		redis: o.redis,
	})
	f.seed = f.h.seed(models.SeedOptions{WebhookURL: o.webhookURL, Name: brkAppName, Status: o.status})
	f.owners, f.others = testenv.AddMembers(t, f.h.pg.DB, f.seed.OrganizationID)
	return f
}

// markErrorDays marks the given days before the clock's day (1 = yesterday,
// 0 = today) as error days of the seeded app, as the breaker writes them.
func (f *brkFixture) markErrorDays(t *testing.T, daysAgo ...int) {
	t.Helper()
	ctx := context.Background()
	pipe := f.h.rdb.Pipeline()
	for _, d := range daysAgo {
		key := breaker.Key(f.seed.SentryAppID, f.seed.OrganizationID, brkNow().AddDate(0, 0, -d))
		pipe.HIncrBy(ctx, key, "error_count", 1)
		pipe.Expire(ctx, key, 8*24*time.Hour)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
}

// dayCounters returns the hash of the app's daily key daysAgo days back.
func (f *brkFixture) dayCounters(t *testing.T, daysAgo int) map[string]string {
	t.Helper()
	v, err := f.h.rdb.HGetAll(context.Background(),
		breaker.Key(f.seed.SentryAppID, f.seed.OrganizationID, brkNow().AddDate(0, 0, -daysAgo))).Result()
	require.NoError(t, err)
	return v
}

// appEvents returns the app's events column as PostgreSQL stores it.
func (f *brkFixture) appEvents(t *testing.T) string {
	t.Helper()
	var events string
	require.NoError(t, f.h.pg.DB.Raw("SELECT events::text FROM sentry_apps WHERE id = ?", f.seed.SentryAppID).Scan(&events).Error)
	return events
}

// auditRows returns every audit entry.
func (f *brkFixture) auditRows(t *testing.T) []models.AuditLogEntry {
	t.Helper()
	var rows []models.AuditLogEntry
	require.NoError(t, f.h.pg.DB.Order("id").Find(&rows).Error)
	return rows
}

// attempts returns how many webhook attempts the app's request log holds for
// event (every attempt is logged, whatever its outcome).
func (f *brkFixture) attempts(event string) int {
	return len(f.h.lrange(requestlog.RequestKey(f.seed.SentryAppID, event)))
}

// emailTaskIDs returns the ids of the e-mail tasks of the (single) disable.
func (f *brkFixture) emailTaskIDs(t *testing.T) []string {
	t.Helper()
	rows := f.auditRows(t)
	require.Len(t, rows, 1)
	var ids []string
	for _, o := range f.owners {
		ids = append(ids, tasks.EmailTaskID(rows[0].ID, o.UserID))
	}
	return ids
}

// enqueueIssue enqueues an issue.created delivery.
func (f *brkFixture) enqueueIssue() *asynq.TaskInfo {
	return f.h.enqueue(tasks.ResourceChange{InstallationID: f.seed.InstallationID, Event: "issue.created",
		Data: json.RawMessage(`{"issue":{"id":"1"}}`)})
}

// disabledCheck tells requireDisabled what to expect beyond the common part.
type disabledCheck struct {
	// disabledCount returns hookworker_integrations_disabled_total summed
	// over every worker involved.
	disabledCount func() float64
	// rc is the receiver, when the webhook has one.
	rc *receiver
	// emailsSent returns hookworker_emails_sent_total{result="sent"}
	// summed over every worker involved.
	emailsSent func() float64
	// logs hold the expected sentryapp.disabled line, once in all of
	// them; defaults to the harness's logs.
	logs []*observer.ObservedLogs
	// lateErrors allows today's counter to hold up to this many errors (and
	// nothing else): concurrent attempts that were recorded after the
	// disabling worker cleared the keys.
	lateErrors int
}

// requireDisabled checks the whole outcome of exactly one disable of the
// fixture's app: events emptied, one e-mail over SMTP to each active owner
// and no one else, breaker keys gone, audit row, metric, log line, and no
// later delivery.
func (f *brkFixture) requireDisabled(t *testing.T, c disabledCheck) {
	t.Helper()
	h := f.h
	if c.disabledCount == nil {
		c.disabledCount = func() float64 { return testutil.ToFloat64(h.w.Metrics.Disabled) }
	}
	if c.emailsSent == nil {
		c.emailsSent = func() float64 { return testutil.ToFloat64(h.w.Metrics.Emails.WithLabelValues("sent")) }
	}
	require.Equal(t, "[]", f.appEvents(t), "the app's events are emptied")

	rows := f.auditRows(t)
	require.Len(t, rows, 1, "one audit entry")
	a := rows[0]
	require.Equal(t, f.seed.OrganizationID, a.OrganizationID)
	require.Equal(t, "Sentry", a.ActorLabel)
	require.Nil(t, a.ActorID)
	require.Equal(t, f.seed.OrganizationID, a.TargetObject)
	require.Equal(t, 131, a.Event)
	require.Equal(t, models.JSONObject{"name": brkAppName}, a.Data)
	require.True(t, a.Datetime.Equal(brkNow()), "audit datetime %s", a.Datetime)

	// Every e-mail task completes, and the server got one message per owner.
	for _, id := range f.emailTaskIDs(t) {
		h.waitState(tasks.QueueEmail, id, asynq.TaskStateCompleted)
	}
	q, err := h.inspector.GetQueueInfo(tasks.QueueEmail)
	require.NoError(t, err)
	require.Equal(t, len(f.owners), q.Completed, "e-mail tasks: %+v", q)
	require.Zero(t, q.Pending+q.Active+q.Scheduled+q.Retry+q.Archived, "e-mail tasks: %+v", q)
	f.requireOwnerMail(t)
	require.EqualValues(t, len(f.owners), c.emailsSent())

	for i := range 30 {
		got := f.dayCounters(t, i)
		if i == 0 && c.lateErrors > 0 && len(got) > 0 {
			require.Len(t, got, 1, "only late errors may be left today: %v", got)
			n, err := strconv.Atoi(got["error_count"])
			require.NoError(t, err, "today's counter: %v", got)
			require.LessOrEqual(t, n, c.lateErrors, "late errors today")
			continue
		}
		require.Empty(t, got, "breaker key of today-%d still exists", i)
	}
	require.EqualValues(t, 1, c.disabledCount())
	if c.logs == nil {
		c.logs = []*observer.ObservedLogs{h.logs}
	}
	var logged []observer.LoggedEntry
	for _, l := range c.logs {
		logged = append(logged, l.FilterMessage("sentryapp.disabled").All()...)
	}
	require.Len(t, logged, 1)
	fields := logged[0].ContextMap()
	require.Equal(t, f.seed.SentryAppSlug, fields["sentryapp_slug"])
	require.Equal(t, f.seed.SentryAppUUID, fields["sentryapp_uuid"])
	require.Equal(t, f.seed.OrganizationID, fields["org_id"])

	// A later task for the app is not sent.
	before, received := f.attempts("issue.created"), 0
	if c.rc != nil {
		received = c.rc.count()
	}
	appDisabled := func() int {
		n := h.logs.FilterMessage("send_webhooks.app_disabled").Len()
		for _, l := range c.logs {
			if l != h.logs {
				n += l.FilterMessage("send_webhooks.app_disabled").Len()
			}
		}
		return n
	}
	disabledLogs := appDisabled()
	info := f.enqueueIssue()
	h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
	require.Equal(t, before, f.attempts("issue.created"), "no attempt after the disable")
	if c.rc != nil {
		require.Equal(t, received, c.rc.count(), "the receiver got nothing after the disable")
	}
	require.Greater(t, appDisabled(), disabledLogs, "send_webhooks.app_disabled is logged")
}

// requireOwnerMail checks the messages the SMTP server holds: exactly one
// per active owner, with the subject, both links and the webhook URL.
func (f *brkFixture) requireOwnerMail(t *testing.T) {
	t.Helper()
	msgs := f.smtp.Messages()
	require.Len(t, msgs, len(f.owners), "one e-mail per active owner")
	settings := brkBaseURL + "/settings/" + f.seed.OrganizationSlug + "/developer-settings/" + f.seed.SentryAppSlug + "/"
	var webhookURL string
	require.NoError(t, f.h.pg.DB.Raw("SELECT webhook_url FROM sentry_apps WHERE id = ?", f.seed.SentryAppID).Scan(&webhookURL).Error)
	for _, o := range f.owners {
		got := f.smtp.To(o.Email)
		require.Len(t, got, 1, "e-mails to %s", o.Email)
		m := got[0]
		require.NoError(t, m.ParseErr)
		require.Equal(t, "noreply@hookworker.test", m.From)
		require.Equal(t, brkSubject, m.Subject)
		for _, body := range []string{m.Text, m.HTML} {
			require.Contains(t, body, settings+"?referrer=disabled-sentry-app")
			require.Contains(t, body, settings+"dashboard/?referrer=disabled-sentry-app")
			require.Contains(t, body, webhookURL)
		}
	}
	for _, addr := range f.others {
		require.Empty(t, f.smtp.To(addr), "%s must not get the e-mail", addr)
	}
}

// TestBreakerDisablesAfterSeventhErrorDay runs on every Redis topology: on
// a cluster the 7-day read and the 30-day clear span several slots.
func TestBreakerDisablesAfterSeventhErrorDay(t *testing.T) {
	t.Parallel()
	for _, top := range topologies() {
		t.Run(top.name, func(t *testing.T) {
			t.Parallel()
			rc := statusReceiver(t, http.StatusBadRequest)
			f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook", redis: top.redis})
			// Six previous error days make the streak; days 7 … 30 back are
			// there to show which keys the disable deletes.
			var days []int
			for d := 1; d <= 30; d++ {
				days = append(days, d)
			}
			f.markErrorDays(t, days...)

			info := f.enqueueIssue()
			done := f.h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
			require.Zero(t, done.Retried, "a 400 is not retried")
			require.Equal(t, 1, rc.count())
			f.requireDisabled(t, disabledCheck{rc: rc})
			require.Equal(t, map[string]string{"error_count": "1"}, f.dayCounters(t, 30), "today-30 is outside the 30 keys deleted")
		})
	}
}

// TestBreakerReEnable re-enables a disabled app the way docs/breaker.md
// says (lifecycle.Manager, behind `worker apps enable`): deliveries resume,
// and since the history was cleared the next error does not disable it
// again.
func TestBreakerReEnable(t *testing.T) {
	t.Parallel()
	rc := statusReceiver(t, http.StatusBadRequest)
	f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook"})
	f.markErrorDays(t, 1, 2, 3, 4, 5, 6)
	before := f.appEvents(t)
	f.h.waitState(tasks.QueueAppPlatform, f.enqueueIssue().ID, asynq.TaskStateCompleted)
	f.waitDisabled(t)
	require.Equal(t, "[]", f.appEvents(t))

	mgr := lifecycle.NewManager(lifecycle.Deps{DB: f.h.pg.DB, Redis: f.h.rdb, Log: zap.NewNop(), Now: brkNow})
	require.NoError(t, mgr.Enable(context.Background(), f.seed.SentryAppSlug, nil))
	require.Equal(t, before, f.appEvents(t), "the events the app had are back")

	f.h.waitState(tasks.QueueAppPlatform, f.enqueueIssue().ID, asynq.TaskStateCompleted)
	require.Equal(t, 2, rc.count(), "the re-enabled app gets deliveries again")
	require.Equal(t, map[string]string{"error_count": "1"}, f.dayCounters(t, 0), "a fresh history")
	require.Equal(t, before, f.appEvents(t), "one error day does not disable it again")
	rows := f.auditRows(t)
	require.Len(t, rows, 2)
	require.Equal(t, models.AuditInternalIntegrationEnabled, rows[1].Event)
}

// TestBreakerNotBrokenYet covers the near misses end to end: five previous
// error days, or six with a success today, do not disable the app.
func TestBreakerNotBrokenYet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		days    []int
		answers []int // the receiver's answers, in order
	}{
		{"five previous error days", []int{1, 2, 3, 4, 5}, []int{400}},
		{"a gap in the streak", []int{1, 2, 4, 5, 6, 7}, []int{400}},
		{"a success today", []int{1, 2, 3, 4, 5, 6}, []int{200, 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.answers[n-1]) })
			f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook"})
			f.markErrorDays(t, tc.days...)
			for range tc.answers {
				info := f.enqueueIssue()
				f.h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
			}
			require.Equal(t, len(tc.answers), rc.count())
			require.NotEqual(t, "[]", f.appEvents(t))
			require.Empty(t, f.auditRows(t))
			require.Zero(t, testutil.ToFloat64(f.h.w.Metrics.Disabled))
			require.NotEmpty(t, f.dayCounters(t, 1), "the history is kept")
			require.Equal(t, "1", f.dayCounters(t, 0)["error_count"], "today's error is counted")
		})
	}
}

// TestBreakerDisablesOnTimeouts reaches BROKEN_TIMEOUT_THRESHOLD with a
// hanging receiver on every Redis topology, and with a closed port on the
// single node (the same counter, written the same way).
func TestBreakerDisablesOnTimeouts(t *testing.T) {
	t.Parallel()
	hang := func(t *testing.T) (string, *receiver) {
		rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		return rc.URL + "/hook", rc
	}
	type timeoutCase struct {
		name  string
		url   func(t *testing.T) (string, *receiver)
		redis func(t *testing.T) redis.UniversalClient
	}
	var cases []timeoutCase
	for _, top := range topologies() {
		cases = append(cases, timeoutCase{"receiver hangs past WEBHOOK_TIMEOUT/" + top.name, hang, top.redis})
	}
	cases = append(cases, timeoutCase{"closed port/single", func(t *testing.T) (string, *receiver) {
		return "http://" + testsmtp.ReserveAddr(t) + "/hook", nil
	}, nil})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, rc := tc.url(t)
			f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: url, redis: tc.redis, config: func(c *config.Config) {
				c.BrokenTimeoutThreshold = 2
				c.WebhookTimeout = 200 * time.Millisecond
			}})
			// Attempt 1 makes timeout_count 1 (threshold−1: nothing
			// happens), its retry makes it 2 and disables the app, the
			// next retry finds the app disabled and completes the task.
			info := f.enqueueIssue()
			done := f.h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
			require.Equal(t, 2, done.Retried, "two timeouts, then the disabled app ends the task")
			require.Equal(t, 2, f.attempts("issue.created"))
			if rc != nil {
				require.Equal(t, 2, rc.count())
			}
			f.requireDisabled(t, disabledCheck{rc: rc})
		})
	}
}

// TestBreakerNeverCounts checks that apps that are not internal, and
// event_alert.* webhooks, are never counted nor disabled, even with a
// history that would break an internal app.
func TestBreakerNeverCounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		event  string
	}{
		{"published app", models.AppPublished, "issue.created"},
		{"unpublished app", models.AppUnpublished, "issue.created"},
		{"internal app, event_alert.triggered", models.AppInternal, "event_alert.triggered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := statusReceiver(t, http.StatusBadRequest)
			f := newBrkFixture(t, brkOptions{status: tc.status, webhookURL: rc.URL + "/hook"})
			// Seven error days including today: broken, if anyone looked.
			f.markErrorDays(t, 0, 1, 2, 3, 4, 5, 6)
			for range 2 {
				info := f.h.enqueue(tasks.ResourceChange{InstallationID: f.seed.InstallationID, Event: tc.event,
					Data: json.RawMessage(`{"event":{"id":"1"}}`)})
				f.h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
			}
			require.Equal(t, 2, rc.count())
			require.Len(t, f.h.lrange(requestlog.ErrorKey(f.seed.SentryAppID, tc.event)), 2, "the errors are logged")
			require.Equal(t, map[string]string{"error_count": "1"}, f.dayCounters(t, 0), "but not counted")
			require.NotEqual(t, "[]", f.appEvents(t))
			require.Empty(t, f.auditRows(t))
			require.Zero(t, testutil.ToFloat64(f.h.w.Metrics.Disabled))
			require.Zero(t, f.h.logs.FilterMessage("sentryapp.disabled").Len())
			queues, err := f.h.inspector.Queues()
			require.NoError(t, err)
			require.NotContains(t, queues, tasks.QueueEmail, "no e-mail was ever enqueued")
			require.Zero(t, f.smtp.Attempts())
		})
	}
}

// barrierReceiver answers 400 to n concurrent requests, holding each until
// all n have arrived, so that every worker sees the broken state together.
func barrierReceiver(t *testing.T, n int) *receiver {
	t.Helper()
	all := make(chan struct{})
	var once sync.Once
	return newReceiver(t, func(k int, w http.ResponseWriter, r *http.Request) {
		if k >= n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		w.WriteHeader(http.StatusBadRequest)
	})
}

// startExtraWorkers starts n more workers on the fixture's Redis database
// and schema, each with concurrency 1 and its own metrics, like separate
// processes. It returns their metrics and their (shared) logs.
func startExtraWorkers(t *testing.T, f *brkFixture, n int) ([]*metrics.Metrics, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	sender, err := mail.NewSMTPSender(f.smtp.URL(), brkFrom)
	require.NoError(t, err)
	var ms []*metrics.Metrics
	for i := range n {
		ms = append(ms, f.h.extraWorker(fmt.Sprintf("extra%d", i), core, sender, brkNow).Metrics)
	}
	return ms, logs
}

func TestBreakerExactlyOnce(t *testing.T) {
	t.Parallel()
	const deliveries = 8
	for _, tc := range []struct {
		name        string
		concurrency int
		extra       int
	}{
		{"one worker, concurrency 8", deliveries, 0},
		{"eight workers", 1, deliveries - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := barrierReceiver(t, deliveries)
			f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook",
				config: func(c *config.Config) {
					c.WorkerConcurrency = tc.concurrency
					c.WebhookTimeout = 15 * time.Second // the barrier holds the answers
				}})
			extra, extraLogs := startExtraWorkers(t, f, tc.extra)
			f.markErrorDays(t, 1, 2, 3, 4, 5, 6)

			var ids []string
			for range deliveries {
				ids = append(ids, f.enqueueIssue().ID)
			}
			for _, id := range ids {
				f.h.waitState(tasks.QueueAppPlatform, id, asynq.TaskStateCompleted)
			}
			require.Equal(t, deliveries, rc.count(), "all deliveries went out before the disable")
			skipped := f.h.logs.FilterMessage("sentryapp.disable_skipped").Len() +
				extraLogs.FilterMessage("sentryapp.disable_skipped").Len()
			t.Logf("%d of %d workers found the app broken after another had disabled it", skipped, deliveries)
			if tc.extra > 0 {
				// The work was spread over the workers.
				busy := 0
				for _, m := range extra {
					if testutil.CollectAndCount(m.Responses) > 0 {
						busy++
					}
				}
				require.Positive(t, busy, "the extra workers took part")
			}
			sum := func(get func(*metrics.Metrics) float64) float64 {
				total := get(f.h.w.Metrics)
				for _, m := range extra {
					total += get(m)
				}
				return total
			}
			f.requireDisabled(t, disabledCheck{rc: rc, logs: []*observer.ObservedLogs{f.h.logs, extraLogs},
				lateErrors: deliveries - 1,
				disabledCount: func() float64 {
					return sum(func(m *metrics.Metrics) float64 { return testutil.ToFloat64(m.Disabled) })
				},
				emailsSent: func() float64 {
					return sum(func(m *metrics.Metrics) float64 { return testutil.ToFloat64(m.Emails.WithLabelValues("sent")) })
				},
			})
		})
	}
}

// TestBreakerRedeliveredDisable runs the disable sequence for the same
// target twice in a row, as a redelivered task would, then from several
// goroutines at once: one audit row, and one e-mail per owner over SMTP.
func TestBreakerRedeliveredDisable(t *testing.T) {
	t.Parallel()
	rc := statusReceiver(t, http.StatusBadRequest)
	f := newBrkFixture(t, brkOptions{status: models.AppInternal, webhookURL: rc.URL + "/hook"})
	f.markErrorDays(t, 0, 1, 2, 3, 4, 5, 6)
	ctx := context.Background()
	target, err := store.New(f.h.pg.DB).Target(ctx, f.seed.InstallationID)
	require.NoError(t, err)

	m := metrics.New()
	core, logs := observer.New(zapcore.InfoLevel)
	newDisabler := func() *tasks.Disabler {
		return tasks.NewDisabler(tasks.DisablerConfig{
			Store: store.New(f.h.pg.DB), Breaker: breaker.New(f.h.rdb, breaker.Options{Now: brkNow}),
			Enqueuer: f.h.client, Metrics: m, Log: zap.New(core), BaseURL: brkBaseURL, MailMaxRetries: 3,
		})
	}
	d := newDisabler()
	require.NoError(t, d.Disable(ctx, target))
	require.NoError(t, d.Disable(ctx, target))
	var wg sync.WaitGroup
	for range 4 {
		other := newDisabler()
		wg.Go(func() { require.NoError(t, other.Disable(ctx, target)) })
	}
	wg.Wait()

	f.requireDisabled(t, disabledCheck{rc: rc, logs: []*observer.ObservedLogs{logs},
		disabledCount: func() float64 { return testutil.ToFloat64(m.Disabled) }})
	require.Zero(t, f.h.logs.FilterMessage("sentryapp.disabled").Len(), "the worker itself disabled nothing")
}
