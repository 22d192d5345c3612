package worker_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
)

// upgradeReceiver answers every POST with 101 Switching Protocols and then
// holds the raw connection open until the test ends, as a hostile receiver
// would to pin a worker's slots.
func upgradeReceiver(t *testing.T, withUpgradeHeader bool) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		head := "HTTP/1.1 101 Switching Protocols\r\n\r\n"
		if withUpgradeHeader {
			head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
		}
		_, _ = buf.WriteString(head)
		_ = buf.Flush()
		<-release
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

// TestSwitchingProtocolsCannotPinSlots: apps whose receivers answer 101 and
// hold the connection used to keep their tasks active until the receiver
// hung up, so a few of them pinned every slot. Each such attempt now ends at
// once as a failed attempt (status 0 in the request log), the tasks spend
// exactly WEBHOOK_MAX_RETRIES retries, and a healthy app's delivery goes
// through beside them.
func TestSwitchingProtocolsCannotPinSlots(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var hostile []*asynq.TaskInfo
	var appIDs []int64
	for i := 0; i < 5; i++ {
		srv := upgradeReceiver(t, i%2 == 0)
		seed := h.seed(models.SeedOptions{WebhookURL: srv.URL + "/hook"})
		appIDs = append(appIDs, seed.SentryAppID)
		for j := 0; j < 4; j++ { // 20 tasks for 10 slots
			hostile = append(hostile, h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID,
				Event: "issue.created", Data: json.RawMessage(`{"issue":{"id":"1"}}`)}))
		}
	}
	healthy := statusReceiver(t, http.StatusOK)
	hs := h.seed(models.SeedOptions{WebhookURL: healthy.URL + "/hook"})
	ok := h.enqueue(tasks.ResourceChange{InstallationID: hs.InstallationID, Event: "issue.created",
		Data: json.RawMessage(`{"issue":{"id":"2"}}`)})

	h.waitState(tasks.QueueAppPlatform, ok.ID, asynq.TaskStateCompleted)
	require.Equal(t, 1, healthy.count())

	for _, info := range hostile {
		// A delivery of these failing apps may be deferred (their limit
		// falls to 1): follow it by delivery id.
		got := h.waitDelivery(info.ID, asynq.TaskStateArchived)
		require.Equal(t, h.cfg.WebhookMaxRetries, retriesSpent(got), "a 101 is retried like a connection error, no more")
		require.Contains(t, got.LastErr, "101")
	}
	for _, app := range appIDs {
		entries := dlEntries(t, h, requestlog.ErrorKey(app, "issue.created"))
		require.NotEmpty(t, entries)
		for _, e := range entries {
			require.EqualValues(t, 0, e["response_code"], "a 101 is logged as no response")
		}
	}
}

// TestUnknownTaskTypeArchivedAtOnce: a task type no handler serves (a typo
// in another producer, or a type that merely starts like ours) is archived
// on its first attempt with a message, a warning and a count, instead of
// being retried silently for hours.
func TestUnknownTaskTypeArchivedAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var infos []*asynq.TaskInfo
	for _, typ := range []string{"send_resource_change_webhok", tasks.TypeResourceChange + "_v2", strings.Repeat("x", 5000)} {
		info, err := h.client.Enqueue(asynq.NewTask(typ, []byte(`{}`)), asynq.Queue(tasks.QueueAppPlatform),
			asynq.MaxRetry(25), asynq.Retention(time.Hour))
		require.NoError(t, err)
		infos = append(infos, info)
	}
	for _, info := range infos {
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
		require.Zero(t, got.Retried)
		require.Contains(t, got.LastErr, "unknown task type")
		require.Less(t, len(got.LastErr), 200, "the type is quoted, capped")
	}
	require.Equal(t, float64(len(infos)), testutil.ToFloat64(h.w.Metrics.Rejected.WithLabelValues("unknown")))
	require.Equal(t, len(infos), h.logs.FilterMessage("task.unknown_type").Len())
}
