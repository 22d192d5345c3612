package worker_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
)

// Bounds the caps of docs/security.md guarantee: no task error and no log
// line grows with the input that caused it.
const (
	capsMaxTaskError = 1 << 10
	capsMaxLogLine   = 4 << 10
)

// TestCapsOnQuotedInput feeds huge inputs through asynq — a 900 KB event
// name, a 1 MB webhook URL (delivered, answered 404), a 1 MB host and a 1 MB
// scheme (both refused), a 100 KB task id — and checks the length of every
// task error and every log line, asynq's included.
func TestCapsOnQuotedInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	huge := strings.Repeat("a", 900<<10)

	var ids []string
	for _, ev := range []string{huge, "issue." + huge, huge + ".created"} {
		payload, err := json.Marshal(map[string]any{"installation_id": 1, "event": ev, "data": map[string]any{}})
		require.NoError(t, err)
		info := h.enqueueRaw(payload)
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
		require.Contains(t, got.LastErr, "event")
		require.Contains(t, got.LastErr, "…", "the event is quoted, cut")
		ids = append(ids, info.ID)
	}

	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mb := strings.Repeat("b", 1<<20)
	urls := map[string]asynq.TaskState{
		rc.URL + "/hook?q=" + mb:                 asynq.TaskStateCompleted, // a 4xx: done
		"http://" + mb + ".1/hook":               asynq.TaskStateArchived,  // refused: numeric last label
		mb + "://" + rc.Listener.Addr().String(): asynq.TaskStateArchived,  // refused: scheme
	}
	for u, state := range urls {
		s := h.seed(models.SeedOptions{WebhookURL: u, Status: models.AppInternal})
		info := h.enqueue(tasks.ResourceChange{InstallationID: s.InstallationID, Event: "issue.created"})
		h.waitState(tasks.QueueAppPlatform, info.ID, state)
		ids = append(ids, info.ID)
	}

	// A producer-chosen task id of 100 KB, delivered to a receiver that fails.
	fail := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	s := h.seed(models.SeedOptions{WebhookURL: fail.URL, Status: models.AppPublished})
	longID := strings.Repeat("i", 100<<10)
	info := h.enqueue(tasks.ResourceChange{InstallationID: s.InstallationID, Event: "issue.created"}, asynq.TaskID(longID))
	h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
	require.Positive(t, fail.count())

	for _, e := range taskErrors(t, h) {
		require.LessOrEqual(t, len(e), capsMaxTaskError, "task error: %.200s…", e)
	}
	logs := encodedEntries(t, h)
	require.True(t, containsLine(logs, "send_webhooks.destination_refused"))
	require.True(t, containsLine(logs, "send_webhooks.client_error"))
	require.True(t, containsLine(logs, "Retry exhausted"), "asynq's own line about the long task id is there")
	for _, l := range logs {
		require.LessOrEqual(t, len(l), capsMaxLogLine, "log line: %.300s…", l)
	}
}
