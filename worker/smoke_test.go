package worker_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	rc := statusReceiver(t, http.StatusOK)
	seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook"})

	info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created",
		Data: json.RawMessage(`{"issue":{"id":"1"}}`)})
	h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)

	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.True(t, webhook.Verify(seed.ClientSecret, reqs[0].Body, reqs[0].Header.Get("Sentry-Hook-Signature")))
	require.Len(t, h.lrange(requestlog.RequestKey(seed.SentryAppID, "issue.created")), 1)
	require.Empty(t, h.lrange(requestlog.ErrorKey(seed.SentryAppID, "issue.created")))
}
