package worker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// TestHostilePayloads enqueues payloads a careless or hostile producer could
// write, next to good tasks: each bad one is archived after its first
// attempt with a message saying what is wrong and counted as rejected, and
// the good ones (including one whose strings are full of brackets) are
// delivered regardless.
func TestHostilePayloads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	rc := statusReceiver(t, http.StatusOK)
	seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook"})
	id := seed.InstallationID
	head := fmt.Sprintf(`{"installation_id":%d,"event":"issue.created","data":`, id)

	bad := []struct {
		name    string
		payload string
		want    string
	}{
		{"depth 100k", head + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}",
			fmt.Sprintf("payload: JSON nested deeper than %d levels", tasks.MaxJSONDepth)},
		{"2 MiB", head + `{"blob":"` + strings.Repeat("x", 2<<20) + `"}}`,
			"over the limit of 1048576 (MAX_PAYLOAD_BYTES)"},
		{"binary", "\x00\xff\xfe garbage", "payload: not valid JSON"},
		{"array", `[1,2,3]`, "payload: not a JSON object"},
		{"truncated", head + `{"issue":`, "payload: not valid JSON"},
		{"string id", `{"installation_id":"1","event":"issue.created"}`, "installation_id must be an integer"},
		{"huge id", `{"installation_id":99999999999999999999,"event":"issue.created"}`, "payload: installation_id "},
		{"no event", fmt.Sprintf(`{"installation_id":%d}`, id), "payload: event is missing"},
		{"unknown event", fmt.Sprintf(`{"installation_id":%d,"event":"issue.exploded"}`, id), `unknown event "issue.exploded"`},
		{"data array", head + `[]}`, "payload: data must be a JSON object"},
		{"actor string", fmt.Sprintf(`{"installation_id":%d,"event":"issue.created","actor":"root"}`, id), "payload: actor must be a JSON object"},
	}
	brackets := strings.Repeat("[{", 50_000)
	good := []*asynq.TaskInfo{
		h.enqueue(tasks.ResourceChange{InstallationID: id, Event: "issue.created", Data: json.RawMessage(`{"issue":{"id":"1"}}`)}),
	}
	badInfo := make([]*asynq.TaskInfo, len(bad))
	for i, b := range bad {
		badInfo[i] = h.enqueueRaw([]byte(b.payload))
	}
	good = append(good, h.enqueueRaw([]byte(head+`{"issue":{"title":"`+brackets+`"}}}`)))

	for i, b := range bad {
		got := h.waitState(tasks.QueueAppPlatform, badInfo[i].ID, asynq.TaskStateArchived)
		require.Zero(t, got.Retried, b.name)
		require.Contains(t, got.LastErr, b.want, b.name)
		require.Less(t, len(got.LastErr), 300, "%s: the message must not echo the payload", b.name)
	}
	for _, g := range good {
		h.waitState(tasks.QueueAppPlatform, g.ID, asynq.TaskStateCompleted)
	}
	require.Equal(t, float64(len(bad)), testutil.ToFloat64(h.w.Metrics.Rejected.WithLabelValues(tasks.TypeResourceChange)))

	reqs := rc.requests()
	require.Len(t, reqs, len(good), "only the good tasks reach the receiver")
	for _, r := range reqs {
		require.True(t, webhook.Verify(seed.ClientSecret, r.Body, r.Header.Get("Sentry-Hook-Signature")))
		require.True(t, json.Valid(r.Body))
	}
}
