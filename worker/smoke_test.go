package worker_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/version"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// One signed delivery on every Redis topology, to an unpublished and to an
// internal app (whose breaker counter is written too, in another cluster
// slot than its request log): the same worker, only the client differs. The
// request is checked whole (method, path, body, every header); the headers
// across retries are TestDeliveryRequest's.
func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	for _, top := range topologies() {
		t.Run(top.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{redis: top.redis})
			rc := statusReceiver(t, http.StatusOK)
			for _, status := range []int{models.AppUnpublished, models.AppInternal} {
				seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook", Status: status})
				info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created",
					Data: json.RawMessage(`{"issue":{"id":"1"}}`)})
				h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)

				reqs := rc.requests()
				last := reqs[len(reqs)-1]
				require.Equal(t, http.MethodPost, last.Method)
				require.Equal(t, "/hook", last.Path)
				require.Equal(t, dlBody(t, "created", seed.InstallationUUID, `{"issue":{"id":"1"}}`, ""), string(last.Body))
				require.True(t, webhook.Verify(seed.ClientSecret, last.Body, last.Header.Get("Sentry-Hook-Signature")))
				require.Equal(t, "application/json", last.Header.Get("Content-Type"))
				require.Regexp(t, dlRequestIDPattern, last.Header.Get("Request-ID"))
				require.Equal(t, "issue", last.Header.Get("Sentry-Hook-Resource"))
				require.Regexp(t, `^\d{10}$`, last.Header.Get("Sentry-Hook-Timestamp"))
				require.Equal(t, "hookworker/"+version.Version, last.Header.Get("User-Agent"))
				require.Equal(t, info.ID, last.Header.Get("Hookworker-Delivery-ID"))
				require.Len(t, h.lrange(requestlog.RequestKey(seed.SentryAppID, "issue.created")), 1)
				require.Empty(t, h.lrange(requestlog.ErrorKey(seed.SentryAppID, "issue.created")))
			}
			require.Equal(t, 2, rc.count())
		})
	}
}
