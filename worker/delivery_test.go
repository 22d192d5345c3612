package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/internal/version"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// Tests in this file share one worker per top-level test (Redis databases
// are scarce); each subtest seeds its own app and uses its own event, so its
// request log, its receiver and its metric series are its own.

// dlMaxRetries is WEBHOOK_MAX_RETRIES of the delivery tests: 3 attempts.
const dlMaxRetries = 2

// forSub returns the harness bound to a subtest, so that its assertions fail
// that subtest (the worker, Redis and database stay shared).
func (h *harness) forSub(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// dlClosedURL returns a loopback URL on which nothing listens.
func dlClosedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr + "/hook"
}

// dlHangingReceiver answers nothing until the test ends.
func dlHangingReceiver(t *testing.T) *receiver {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before rc.Close, which waits for handlers
	return rc
}

// dlEntries decodes a request-log list, newest first.
func dlEntries(t *testing.T, h *harness, key string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range h.lrange(key) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m), s)
		out = append(out, m)
	}
	return out
}

// dlCount reads one series of a counter vector.
func dlCount(c *prometheus.CounterVec, labels ...string) float64 {
	return testutil.ToFloat64(c.WithLabelValues(labels...))
}

// dlIntegration is the integration label of an app status.
func dlIntegration(status int, slug string) string {
	switch status {
	case models.AppInternal:
		return "internal"
	case models.AppUnpublished:
		return "unpublished"
	}
	return slug
}

// dlBody is the body hookworker must send.
func dlBody(t *testing.T, action, installationUUID, data, actor string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, webhook.AppendBody(&b, action, installationUUID, json.RawMessage(data), json.RawMessage(actor)))
	return b.String()
}

var (
	dlDatePattern      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00:00$`)
	dlRequestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// dlCheckEntry checks one request-log entry against flow.md §4.
func dlCheckEntry(t *testing.T, e map[string]any, code int, seed models.SeedResult, status int, url, body string, start time.Time) {
	t.Helper()
	date, _ := e["date"].(string)
	require.Regexp(t, dlDatePattern, date)
	at, err := time.Parse("2006-01-02 15:04:05.000000Z07:00", date)
	require.NoError(t, err)
	require.WithinRange(t, at, start.Add(-time.Second), time.Now().Add(time.Second))
	require.Equal(t, float64(code), e["response_code"])
	require.Equal(t, url, e["webhook_url"])
	if status == models.AppInternal {
		require.NotContains(t, e, "organization_id", "internal apps' entries have no organization_id")
	} else {
		require.Equal(t, float64(seed.OrganizationID), e["organization_id"])
	}
	if !requestlog.IsFailure(code) {
		for _, k := range []string{"request_headers", "request_body", "response_body"} {
			require.NotContains(t, e, k, "successes carry no %s", k)
		}
		return
	}
	hdr, ok := e["request_headers"].(map[string]any)
	require.True(t, ok, "request_headers: %v", e["request_headers"])
	require.Equal(t, "application/json", hdr["Content-Type"])
	require.Regexp(t, dlRequestIDPattern, hdr["Request-ID"])
	sig, _ := hdr["Sentry-Hook-Signature"].(string)
	require.True(t, webhook.Verify(seed.ClientSecret, []byte(body), sig), "the logged signature is the one of the body")
	require.Equal(t, "hookworker/"+version.Version, hdr["User-Agent"])
	require.Equal(t, body, e["request_body"])
	require.Contains(t, e, "response_body")
}

// outcomeCase is one row of flow.md §3's table, run end to end.
type outcomeCase struct {
	name  string
	event string
	// status is the app's status.
	status int
	// respond answers the n-th attempt; nil for the timeout and
	// connection-refused rows (see dest).
	respond func(n int, w http.ResponseWriter, r *http.Request)
	// dest is "timeout" or "refused" for the rows without an answer.
	dest string

	attempts  int
	codes     []int    // response_code of each attempt, oldest first
	labels    []string // status label of each attempt's metric
	state     asynq.TaskState
	lastErr   []string // archived: what the message must say
	processed float64
	// responseBody is the response_body logged for failed attempts.
	responseBody string
}

// TestDeliveryOutcomes runs the status matrix on every Redis topology: one
// worker per topology, shared by the rows.
func TestDeliveryOutcomes(t *testing.T) {
	t.Parallel()
	status := func(code int) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
	}
	all := func(code int) []int { return []int{code, code, code} }
	labels := func(l string) []string { return []string{l, l, l} }
	exhausted := func(what string) []string { return []string{"giving up after 3 attempts", what} }

	cases := []outcomeCase{
		{name: "204 no content", event: "issue.resolved", status: models.AppPublished, respond: status(http.StatusNoContent),
			attempts: 1, codes: []int{204}, labels: []string{"204"}, state: asynq.TaskStateCompleted, processed: 1},
		{name: "400", event: "issue.assigned", status: models.AppInternal, respond: status(http.StatusBadRequest),
			attempts: 1, codes: []int{400}, labels: []string{"400"}, state: asynq.TaskStateCompleted},
		{name: "404", event: "issue.unresolved", status: models.AppPublished, respond: status(http.StatusNotFound),
			attempts: 1, codes: []int{404}, labels: []string{"404"}, state: asynq.TaskStateCompleted},
		{name: "429 without Retry-After", event: "comment.created", status: models.AppPublished, respond: status(http.StatusTooManyRequests),
			attempts: 3, codes: all(429), labels: labels("429"), state: asynq.TaskStateArchived, lastErr: exhausted("429")},
		{name: "500", event: "comment.updated", status: models.AppInternal,
			respond: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(strings.Repeat("E", 5000)))
			},
			attempts: 3, codes: all(500), labels: labels("500"), state: asynq.TaskStateArchived, lastErr: exhausted("webhook answered 500"),
			responseBody: strings.Repeat("E", 1024)},
		{name: "503", event: "comment.deleted", status: models.AppUnpublished, respond: status(http.StatusServiceUnavailable),
			attempts: 3, codes: all(503), labels: labels("503"), state: asynq.TaskStateArchived, lastErr: exhausted("webhook answered 503")},
		{name: "504", event: "external_issue.created", status: models.AppPublished, respond: status(http.StatusGatewayTimeout),
			attempts: 3, codes: all(504), labels: labels("504"), state: asynq.TaskStateArchived, lastErr: exhausted("webhook answered 504")},
		{name: "timeout", event: "external_issue.linked", status: models.AppInternal, dest: "timeout",
			attempts: 3, codes: all(0), labels: labels("timeout"), state: asynq.TaskStateArchived, lastErr: exhausted("timed out")},
		{name: "connection refused", event: "installation.created", status: models.AppPublished, dest: "refused",
			attempts: 3, codes: all(0), labels: labels("connectionerror"), state: asynq.TaskStateArchived, lastErr: exhausted("connection error")},
		// Sentry's rule: only 400–599 (and 0, no answer) are errors; any
		// other code finishes the task and goes to the request list only.
		// The breaker counts it as nothing (an internal app here).
		{name: "600", event: "issue.created", status: models.AppInternal, respond: status(600),
			attempts: 1, codes: []int{600}, labels: []string{"600"}, state: asynq.TaskStateCompleted, processed: 1},
		{name: "999", event: "error.created", status: models.AppPublished, respond: status(999),
			attempts: 1, codes: []int{999}, labels: []string{"999"}, state: asynq.TaskStateCompleted, processed: 1},
		{name: "503 then 500 then 200", event: "installation.deleted", status: models.AppUnpublished,
			respond: func(n int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader([]int{503, 500, 200}[n-1])
			},
			attempts: 3, codes: []int{503, 500, 200}, labels: []string{"503", "500", "200"}, state: asynq.TaskStateCompleted, processed: 1},
	}
	for _, top := range topologies() {
		t.Run(top.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{redis: top.redis, config: func(c *config.Config) { c.WebhookMaxRetries = dlMaxRetries }})
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					testenv.Parallel(t)
					runOutcome(t, h.forSub(t), tc)
				})
			}

			t.Run("302 is the answer, not followed", func(t *testing.T) {
				testenv.Parallel(t)
				h := h.forSub(t)
				elsewhere := statusReceiver(t, http.StatusOK)
				tc := outcomeCase{event: "issue.ignored", status: models.AppUnpublished,
					respond: func(_ int, w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, elsewhere.URL+"/moved", http.StatusFound)
					},
					attempts: 1, codes: []int{302}, labels: []string{"302"}, state: asynq.TaskStateCompleted, processed: 1}
				runOutcome(t, h, tc)
				require.Zero(t, elsewhere.count(), "the redirect target must see nothing")
			})
		})
	}
}

// runOutcome seeds an app for tc, delivers one task and checks the
// attempts, the request log, the metrics and the task's end state.
func runOutcome(t *testing.T, h *harness, tc outcomeCase) {
	var rc *receiver
	var url string
	switch tc.dest {
	case "timeout":
		rc = dlHangingReceiver(t)
		url = rc.URL + "/hook"
	case "refused":
		url = dlClosedURL(t)
	default:
		rc = newReceiver(t, tc.respond)
		url = rc.URL + "/hook"
	}
	seed := h.seed(models.SeedOptions{WebhookURL: url, Status: tc.status, Events: []string{tc.event}})
	resource, action, _ := strings.Cut(tc.event, ".")
	data := `{"` + resource + `":{"id":"7"}}`
	start := time.Now()
	info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: tc.event, Data: json.RawMessage(data)})
	got := h.waitState(tasks.QueueAppPlatform, info.ID, tc.state)

	body := dlBody(t, action, seed.InstallationUUID, data, "")
	if rc != nil {
		reqs := rc.requests()
		require.Len(t, reqs, tc.attempts, "attempts")
		for _, r := range reqs {
			require.Equal(t, body, string(r.Body))
		}
	}
	require.Equal(t, tc.attempts-1, got.Retried, "retries")
	if tc.state == asynq.TaskStateArchived {
		for _, s := range tc.lastErr {
			require.Contains(t, got.LastErr, s)
		}
	} else if tc.attempts == 1 {
		require.Empty(t, got.LastErr, "a task finished at once carries no error")
	}

	// Request log: every attempt, newest first; failures in the error list too.
	entries := dlEntries(t, h, requestlog.RequestKey(seed.SentryAppID, tc.event))
	require.Len(t, entries, tc.attempts)
	var failures []map[string]any
	for i, e := range entries {
		code := tc.codes[len(tc.codes)-1-i]
		dlCheckEntry(t, e, code, seed, tc.status, url, body, start)
		if requestlog.IsFailure(code) {
			failures = append(failures, e)
		}
		if requestlog.IsFailure(code) {
			require.Equal(t, tc.responseBody, e["response_body"])
		}
	}
	require.Equal(t, failures, dlEntries(t, h, requestlog.ErrorKey(seed.SentryAppID, tc.event)))

	// Metrics.
	integration := dlIntegration(tc.status, seed.SentryAppSlug)
	want := map[string]float64{}
	for _, l := range tc.labels {
		want[l]++
	}
	for l, n := range want {
		require.Equal(t, n, dlCount(h.w.Metrics.Responses, l, integration, tc.event), "responses{%s,%s}", l, integration)
	}
	require.Equal(t, tc.processed, dlCount(h.w.Metrics.Processed, tc.event), "processed")
}

// TestDeliveryRequest checks the request itself (flow.md §2) over three
// attempts of one task: method, URL, every header, the body.
func TestDeliveryRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) { c.WebhookMaxRetries = dlMaxRetries }})

	t.Run("headers and body across retries", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader([]int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK}[n-1])
		})
		hookOnly := statusReceiver(t, http.StatusOK)
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook?k=v", Status: models.AppInternal,
			Events: []string{"issue.created", "error.created"}})
		// The hook's own url is not where webhooks go.
		require.NoError(t, h.pg.DB.Model(&models.ServiceHook{}).Where("id = ?", seed.ServiceHookID).
			Update("url", hookOnly.URL+"/hook").Error)

		data := `{"issue":{"id":"1","title":"a/b <c> & d","ünï":"✓"}}`
		start := time.Now()
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created",
			Data: json.RawMessage(data)})
		require.Equal(t, tasks.TaskMaxRetry, info.MaxRetry, "asynq's limit stays above WEBHOOK_MAX_RETRIES")
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		end := time.Now()
		require.Equal(t, 2, got.Retried)

		want := `{"action":"created","installation":{"uuid":"` + seed.InstallationUUID + `"},` +
			`"data":{"issue":{"id":"1","title":"a/b <c> & d","ünï":"✓"}},` +
			`"actor":{"type":"application","id":"sentry","name":"Sentry"}}`
		reqs := rc.requests()
		require.Len(t, reqs, 3)
		requestIDs := map[string]bool{}
		for i, r := range reqs {
			require.Equal(t, http.MethodPost, r.Method, "attempt %d", i+1)
			require.Equal(t, "/hook", r.Path)
			require.Equal(t, want, string(r.Body), "attempt %d: exact body", i+1)
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			id := r.Header.Get("Request-ID")
			require.Regexp(t, dlRequestIDPattern, id)
			require.False(t, requestIDs[id], "Request-ID must be new per attempt")
			requestIDs[id] = true
			require.Equal(t, "issue", r.Header.Get("Sentry-Hook-Resource"))
			ts, err := strconv.ParseInt(r.Header.Get("Sentry-Hook-Timestamp"), 10, 64)
			require.NoError(t, err)
			require.GreaterOrEqual(t, ts, start.Unix()-1)
			require.LessOrEqual(t, ts, end.Unix()+1)
			sig := r.Header.Get("Sentry-Hook-Signature")
			require.Regexp(t, `^[0-9a-f]{64}$`, sig)
			require.True(t, webhook.Verify(seed.ClientSecret, r.Body, sig), "signature verifies with the app's client_secret")
			require.False(t, webhook.Verify(seed.ClientSecret+"x", r.Body, sig))
			require.Equal(t, "hookworker/"+version.Version, r.Header.Get("User-Agent"))
			require.Equal(t, info.ID, r.Header.Get("Hookworker-Delivery-ID"), "the delivery id is the task id, on every attempt")
		}
		require.Zero(t, hookOnly.count(), "the hook's url must not be used")

		// The error entries record the headers actually sent.
		errs := dlEntries(t, h, requestlog.ErrorKey(seed.SentryAppID, "issue.created"))
		require.Len(t, errs, 2)
		for i, e := range errs {
			sent := reqs[1-i] // newest first
			hdr := e["request_headers"].(map[string]any)
			require.Equal(t, sent.Header.Get("Request-ID"), hdr["Request-ID"])
			require.Equal(t, sent.Header.Get("Sentry-Hook-Signature"), hdr["Sentry-Hook-Signature"])
			require.Equal(t, sent.Header.Get("Sentry-Hook-Timestamp"), hdr["Sentry-Hook-Timestamp"])
			require.Equal(t, info.ID, hdr["Hookworker-Delivery-ID"])
			require.Equal(t, want, e["request_body"])
		}
		require.Equal(t, 1.0, dlCount(h.w.Metrics.Processed, "issue.created"))
	})

	t.Run("the worker's retry limit wins over the producer's", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		rc := statusReceiver(t, http.StatusBadGateway)
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal, Events: []string{"issue.assigned"}})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.assigned"}, asynq.MaxRetry(50))
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
		require.Equal(t, 1+dlMaxRetries, rc.count())
		require.Contains(t, got.LastErr, "giving up after 3 attempts: webhook answered 502")
	})

	t.Run("payload actor", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		rc := statusReceiver(t, http.StatusAccepted)
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppPublished, Events: []string{"comment.created"}})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "comment.created",
			Actor: json.RawMessage(`{"type":"user","id":"5","name":"Ann <ann@example.com>"}`)})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		reqs := rc.requests()
		require.Len(t, reqs, 1)
		require.Equal(t, `{"action":"created","installation":{"uuid":"`+seed.InstallationUUID+`"},"data":{},`+
			`"actor":{"type":"user","id":"5","name":"Ann <ann@example.com>"}}`, string(reqs[0].Body))
		require.Equal(t, "comment", reqs[0].Header.Get("Sentry-Hook-Resource"))
		require.Equal(t, "/", reqs[0].Path)
		require.Equal(t, 1.0, dlCount(h.w.Metrics.Responses, "202", seed.SentryAppSlug, "comment.created"))
	})

	t.Run("error_id and project_id from response headers", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		const id1, id3 = "0123456789abcdef0123456789abcdef", "fedcba98-7654-3210-fedc-ba9876543210"
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			switch n {
			case 1:
				w.Header().Set("Sentry-Hook-Error", id1)
				w.Header().Set("Sentry-Hook-Project", "42")
				w.WriteHeader(http.StatusInternalServerError)
			case 2:
				w.Header().Set("Sentry-Hook-Error", "abcdef0123456789abcdef0123456789")
				w.WriteHeader(http.StatusInternalServerError)
			case 3:
				// Present but empty: stored, as Sentry does.
				w.Header()["Sentry-Hook-Error"] = []string{""}
				w.Header()["Sentry-Hook-Project"] = []string{""}
				w.WriteHeader(http.StatusInternalServerError)
			case 4:
				// Not a plausible id (and 60 KB): dropped with its project.
				w.Header().Set("Sentry-Hook-Error", strings.Repeat("<x>", 20<<10))
				w.Header().Set("Sentry-Hook-Project", "44")
				w.WriteHeader(http.StatusInternalServerError)
			default:
				w.Header().Set("Sentry-Hook-Error", id3)
				w.Header().Set("Sentry-Hook-Project", "43")
				w.WriteHeader(http.StatusOK)
			}
		})
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal, Events: []string{"error.created"}})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "error.created"})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
		// dlMaxRetries allows 3 attempts: the 4th and 5th answers come from a second task.
		info = h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "error.created"})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		entries := dlEntries(t, h, requestlog.RequestKey(seed.SentryAppID, "error.created"))
		require.Len(t, entries, 5)
		require.Equal(t, id3, entries[0]["error_id"])
		require.Equal(t, "43", entries[0]["project_id"])
		require.NotContains(t, entries[1], "error_id", "not a plausible id")
		require.NotContains(t, entries[1], "project_id", "dropped with the error id")
		require.Equal(t, "", entries[2]["error_id"], "empty values are stored")
		require.Equal(t, "", entries[2]["project_id"])
		require.NotContains(t, entries[3], "error_id", "only when both headers are present")
		require.NotContains(t, entries[3], "project_id")
		require.Equal(t, id1, entries[4]["error_id"])
		require.Equal(t, "42", entries[4]["project_id"])
	})

	t.Run("date stamped when the result is recorded", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		var mu sync.Mutex
		var arrived []time.Time
		const slow = 300 * time.Millisecond
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrived = append(arrived, time.Now())
			mu.Unlock()
			if n == 1 { // no answer: the attempt times out (WEBHOOK_TIMEOUT)
				<-r.Context().Done()
				return
			}
			time.Sleep(slow) // a slow answer
			w.WriteHeader(http.StatusOK)
		})
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal, Events: []string{"select_options.requested"}})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "select_options.requested"})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		entries := dlEntries(t, h, requestlog.RequestKey(seed.SentryAppID, "select_options.requested"))
		require.Len(t, entries, 2)
		mu.Lock()
		defer mu.Unlock()
		for i, after := range []time.Duration{h.cfg.WebhookTimeout, slow} {
			e := entries[1-i] // newest first
			at, err := time.Parse("2006-01-02 15:04:05.000000Z07:00", e["date"].(string))
			require.NoError(t, err)
			// The receiver holds each request for at least `after`; an
			// entry dated before the POST would precede its arrival. Half
			// of `after` leaves room for a loaded machine's scheduling.
			require.GreaterOrEqual(t, at.Sub(arrived[i]), after/2,
				"attempt %d (code %v) is dated after its result, not before the POST", i+1, e["response_code"])
		}
	})

	t.Run("hostile receiver and URL: every entry within 8 KiB", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Sentry-Hook-Error", strings.Repeat("e", 60<<10))
			w.Header().Set("Sentry-Hook-Project", strings.Repeat("1", 1<<10))
			w.WriteHeader([]int{http.StatusInternalServerError, http.StatusNotFound}[min(n, 2)-1])
			_, _ = w.Write(bytes.Repeat([]byte("\x00\"😀"), 20<<10))
		})
		url := rc.URL + "/hook?pad=" + strings.Repeat("%22", 170<<10) // a 512 KB URL
		seed := h.seed(models.SeedOptions{WebhookURL: url, Status: models.AppInternal, Events: []string{"comment.deleted"}})
		data := `{"comment":{"text":"` + strings.Repeat(`\u0001\"`, 40<<10) + `"}}`
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "comment.deleted", Data: json.RawMessage(data)})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		// Two answers (500, then 404); a loaded machine may add a timed-out
		// attempt in between, which is bounded all the same.
		require.GreaterOrEqual(t, rc.count(), 2)
		for _, key := range []string{requestlog.RequestKey(seed.SentryAppID, "comment.deleted"), requestlog.ErrorKey(seed.SentryAppID, "comment.deleted")} {
			list := h.lrange(key)
			require.GreaterOrEqual(t, len(list), 2, key)
			for _, s := range list {
				require.LessOrEqual(t, len(s), requestlog.MaxEntryBytes, key)
				var e map[string]any
				require.NoError(t, json.Unmarshal([]byte(s), &e))
				require.NotContains(t, e, "error_id")
				require.NotContains(t, e, "project_id")
				u, _ := e["webhook_url"].(string)
				require.True(t, strings.HasPrefix(url, u), "webhook_url is the configured URL, cut")
				require.GreaterOrEqual(t, len(u), 256)
				require.NotEmpty(t, e["request_body"])
				if e["response_code"] != 0.0 {
					require.NotEmpty(t, e["response_body"])
				}
			}
		}
	})

	t.Run("request log trimmed to 100", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		rc := statusReceiver(t, http.StatusInternalServerError)
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal, Events: []string{"metric_alert.open"}})
		ctx := context.Background()
		reqKey := requestlog.RequestKey(seed.SentryAppID, "metric_alert.open")
		errKey := requestlog.ErrorKey(seed.SentryAppID, "metric_alert.open")
		for i := range 100 {
			old := fmt.Sprintf(`{"old":%d}`, i)
			require.NoError(t, h.rdb.LPush(ctx, reqKey, old).Err())
			require.NoError(t, h.rdb.LPush(ctx, errKey, old).Err())
		}
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "metric_alert.open"})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
		require.Equal(t, 3, rc.count())
		for _, key := range []string{reqKey, errKey} {
			list := h.lrange(key)
			require.Len(t, list, 100, key)
			for _, s := range list[:3] {
				require.Contains(t, s, `"response_code":500`)
			}
			require.Equal(t, `{"old":99}`, list[3])
			require.Equal(t, `{"old":3}`, list[99], "the 3 oldest entries were trimmed")
			ttl, err := h.rdb.TTL(ctx, key).Result()
			require.NoError(t, err)
			require.InDelta(t, (30 * 24 * time.Hour).Seconds(), ttl.Seconds(), 60, "30-day expiry")
		}
	})

	t.Run("429 honours Retry-After", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		var mu sync.Mutex
		var at []time.Time
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			if n == 1 {
				// asynq schedules retries with one-second resolution, so 2 s
				// is the smallest value whose wait is measurably > 1 s.
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppPublished, Events: []string{"metric_alert.resolved"}})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "metric_alert.resolved"})
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		require.Equal(t, 1, got.Retried)
		require.Equal(t, 2, rc.count())
		mu.Lock()
		defer mu.Unlock()
		require.Greater(t, at[1].Sub(at[0]), time.Second, "the retry waited for Retry-After (10 ms normal delay)")
		errs := dlEntries(t, h, requestlog.ErrorKey(seed.SentryAppID, "metric_alert.resolved"))
		require.Len(t, errs, 1)
		require.Equal(t, 429.0, errs[0]["response_code"])
	})
}

// TestDeliveryRetrySchedule checks when retries are scheduled, with a long
// normal delay so that each task stays in the retry set to be inspected:
// Retry-After (seconds, HTTP date, capped at 1 h) on 429 only; the normal
// delay with ±10 % jitter otherwise.
func TestDeliveryRetrySchedule(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Minute
	h := newHarness(t, harnessOptions{config: func(c *config.Config) { c.WebhookRetryDelay = delay }})
	normal := [2]time.Duration{delay * 9 / 10, delay * 11 / 10}
	tests := []struct {
		name       string
		code       int
		retryAfter func() string
		wait       [2]time.Duration
	}{
		{"429 seconds", 429, func() string { return "120" }, [2]time.Duration{120 * time.Second, 120 * time.Second}},
		{"429 HTTP date", 429, func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) },
			[2]time.Duration{88 * time.Second, 90 * time.Second}},
		{"429 over an hour", 429, func() string { return "7200" }, [2]time.Duration{time.Hour, time.Hour}},
		{"429 absent", 429, func() string { return "" }, normal},
		{"429 invalid", 429, func() string { return "soon" }, normal},
		{"429 negative", 429, func() string { return "-5" }, normal},
		{"503 ignores Retry-After", 503, func() string { return "120" }, normal},
		{"500", 500, func() string { return "" }, normal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.Parallel(t)
			h := h.forSub(t)
			var mu sync.Mutex
			var at time.Time
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				at = time.Now()
				mu.Unlock()
				if v := tt.retryAfter(); v != "" {
					w.Header().Set("Retry-After", v)
				}
				w.WriteHeader(tt.code)
			})
			seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppPublished, Events: []string{"issue.created"}})
			info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"})
			got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateRetry)
			require.Equal(t, 1, got.Retried)
			require.Contains(t, got.LastErr, strconv.Itoa(tt.code))
			mu.Lock()
			attempt := at
			mu.Unlock()
			// asynq stores the retry time in whole seconds.
			require.WithinRange(t, got.NextProcessAt, attempt.Add(tt.wait[0]).Add(-1500*time.Millisecond),
				attempt.Add(tt.wait[1]).Add(1500*time.Millisecond))
			require.Equal(t, 1, rc.count())
		})
	}
}
