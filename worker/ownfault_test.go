package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
)

// TestOwnFaultsNotBlamedOnReceivers: a request hookworker cannot build — a
// producer-chosen task id with CR/LF, which becomes Hookworker-Delivery-ID,
// or a webhook URL that does not parse — is archived at once, is never
// sent, and leaves no trace in the request log or the breaker of an
// internal app.
func TestOwnFaultsNotBlamedOnReceivers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) { c.WebhookMaxRetries = 3 }})
	rc := statusReceiver(t, http.StatusOK)
	cases := []struct {
		name, url, taskID, lastErr string
	}{
		{"CR/LF in the task id", rc.URL + "/hook", "abc\r\nX-Injected: yes", "cannot build the webhook request: header Hookworker-Delivery-ID"},
		{"NUL in the task id", rc.URL + "/hook", "abc\x00def", "cannot build the webhook request"},
		{"URL that does not parse", "http://[::1%zz]:80/hook", "", "invalid webhook URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.forSub(t)
			s := h.seed(models.SeedOptions{WebhookURL: tc.url, Status: models.AppInternal})
			var opts []asynq.Option
			if tc.taskID != "" {
				opts = append(opts, asynq.TaskID(tc.taskID))
			}
			info := h.enqueue(tasks.ResourceChange{InstallationID: s.InstallationID, Event: "issue.created"}, opts...)
			got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
			require.Zero(t, got.Retried, "archived at once")
			require.Contains(t, got.LastErr, tc.lastErr)

			ctx := context.Background()
			for _, key := range []string{requestlog.RequestKey(s.SentryAppID, "issue.created"), requestlog.ErrorKey(s.SentryAppID, "issue.created"),
				breaker.Key(s.SentryAppID, s.OrganizationID, time.Now())} {
				n, err := h.rdb.Exists(ctx, key).Result()
				require.NoError(t, err)
				require.Zero(t, n, "%s must not exist", key)
			}
			require.Zero(t, dlCount(h.w.Metrics.Responses, "connectionerror", "internal", "issue.created"))
		})
	}
	require.Zero(t, rc.count(), "nothing was sent")
}
