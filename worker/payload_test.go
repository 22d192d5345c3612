package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// nsMaxPayload is MAX_PAYLOAD_BYTES of TestNothingSent.
const nsMaxPayload = 600

// nsAppKeys lists the request-log keys of an app.
func nsAppKeys(t *testing.T, h *harness, appID int64) []string {
	t.Helper()
	keys, err := h.redis.Client.Keys(context.Background(), fmt.Sprintf("sentry-app-webhook-*:{%d}:*", appID)).Result()
	require.NoError(t, err)
	return keys
}

// nsLogs counts the log lines with message msg about one installation.
func nsLogs(h *harness, msg string, installationID int64) int {
	return h.logs.FilterMessage(msg).FilterField(zap.Int64("installation_id", installationID)).Len()
}

// TestNothingSent covers every task that finishes without a request
// (flow.md §1 steps 1–4) and every malformed payload: nothing is sent,
// nothing is retried, and what happened is logged or is the archive message.
func TestNothingSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) { c.MaxPayloadBytes = nsMaxPayload }})
	db := h.pg.DB

	finishes := []struct {
		name  string
		event string
		// events of the app and of its hook (both issue.created if nil).
		appEvents, hookEvents []string
		// change breaks the seeded installation; id, when set, picks the
		// installation id to enqueue.
		change func(t *testing.T, s models.SeedResult)
		id     func(s models.SeedResult) int64
		log    string
	}{
		{name: "unknown installation id", event: "issue.created",
			id:  func(s models.SeedResult) int64 { return s.InstallationID + 10_000_000 },
			log: "send_process_resource_change_webhook.missing_installation"},
		{name: "uninstalled installation", event: "issue.created",
			change: func(t *testing.T, s models.SeedResult) {
				require.NoError(t, db.Model(&models.SentryAppInstallation{}).Where("id = ?", s.InstallationID).
					Update("status", models.InstallationPending).Error)
			},
			log: "send_process_resource_change_webhook.missing_installation"},
		{name: "soft-deleted installation", event: "issue.created",
			change: func(t *testing.T, s models.SeedResult) {
				require.NoError(t, db.Model(&models.SentryAppInstallation{}).Where("id = ?", s.InstallationID).
					Update("date_deleted", time.Now()).Error)
			},
			log: "send_process_resource_change_webhook.missing_installation"},
		{name: "soft-deleted app", event: "issue.created",
			change: func(t *testing.T, s models.SeedResult) {
				require.NoError(t, db.Model(&models.SentryApp{}).Where("id = ?", s.SentryAppID).
					Update("date_deleted", time.Now()).Error)
			},
			log: "send_process_resource_change_webhook.missing_installation"},
		{name: "no service hook", event: "issue.created",
			change: func(t *testing.T, s models.SeedResult) {
				require.NoError(t, db.Delete(&models.ServiceHook{}, s.ServiceHookID).Error)
			},
			log: "send_webhooks.missing_servicehook"},
		{name: "event not subscribed by the hook", event: "issue.resolved",
			appEvents: []string{"issue.created", "issue.resolved"}, hookEvents: []string{"issue.created"}},
		{name: "disabled app (empty events)", event: "issue.created",
			appEvents: []string{}, hookEvents: []string{"issue.created"},
			log: "send_webhooks.app_disabled"},
	}

	t.Run("finishes", func(t *testing.T) {
		for _, tc := range finishes {
			t.Run(tc.name, func(t *testing.T) {
				testenv.Parallel(t)
				h := h.forSub(t)
				rc := statusReceiver(t, http.StatusOK)
				seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal, Events: []string{"issue.created"}})
				if tc.appEvents != nil {
					require.NoError(t, db.Model(&models.SentryApp{}).Where("id = ?", seed.SentryAppID).
						Update("events", models.StringList(tc.appEvents)).Error)
				}
				if tc.hookEvents != nil {
					require.NoError(t, db.Model(&models.ServiceHook{}).Where("id = ?", seed.ServiceHookID).
						Update("events", models.StringList(tc.hookEvents)).Error)
				}
				if tc.change != nil {
					tc.change(t, seed)
				}
				id := seed.InstallationID
				if tc.id != nil {
					id = tc.id(seed)
				}
				info := h.enqueue(tasks.ResourceChange{InstallationID: id, Event: tc.event, Data: json.RawMessage(`{"issue":{}}`)})
				got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
				require.Zero(t, got.Retried)
				require.Empty(t, got.LastErr)
				require.Zero(t, rc.count(), "nothing may be sent")
				require.Empty(t, nsAppKeys(t, h, seed.SentryAppID), "nothing is logged to the request log")
				if tc.log != "" {
					require.Equal(t, 1, nsLogs(h, tc.log, id), "log line %s", tc.log)
					entry := h.logs.FilterMessage(tc.log).FilterField(zap.Int64("installation_id", id)).All()[0]
					require.Equal(t, tc.event, entry.ContextMap()["event"])
				} else {
					// Silently: no send_webhooks.* line at all.
					for _, e := range h.logs.FilterField(zap.Int64("installation_id", id)).All() {
						require.NotContains(t, e.Message, "send_webhooks.", "unexpected log line")
					}
				}
			})
		}

		t.Run("project-limited hook", func(t *testing.T) {
			testenv.Parallel(t)
			h := h.forSub(t)
			rc := statusReceiver(t, http.StatusOK)
			seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal,
				Events: []string{"issue.created", "comment.created"}, ProjectIDs: []int64{10, 11}})
			p := func(n int64) *int64 { return &n }
			for _, pid := range []*int64{nil, p(12)} {
				info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created", ProjectID: pid})
				got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
				require.Zero(t, got.Retried)
			}
			require.Zero(t, rc.count(), "only a listed project is delivered")
			require.Equal(t, 2, nsLogs(h, "send_webhooks.project_not_allowed", seed.InstallationID))
			require.Empty(t, nsAppKeys(t, h, seed.SentryAppID))

			info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "comment.created", ProjectID: p(11)})
			h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
			require.Equal(t, 1, rc.count(), "a listed project is delivered")
			require.Len(t, h.lrange(requestlog.RequestKey(seed.SentryAppID, "comment.created")), 1)
			require.Equal(t, 1.0, dlCount(h.w.Metrics.Processed, "comment.created"))
		})
	})
	// Only the project-limited hook's matching task was processed.
	require.Zero(t, dlCount(h.w.Metrics.Processed, "issue.created"), "finishing without a request is not a processed change")
	require.Zero(t, dlCount(h.w.Metrics.Processed, "issue.resolved"))

	t.Run("malformed payloads", func(t *testing.T) {
		h := h.forSub(t)
		rc := statusReceiver(t, http.StatusOK)
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL, Status: models.AppInternal,
			Events: []string{"error.created"}})
		id := seed.InstallationID
		withEvent := func(ev string) string { return fmt.Sprintf(`{"installation_id":%d,"event":%q}`, id, ev) }
		withData := func(data string) string {
			return fmt.Sprintf(`{"installation_id":%d,"event":"error.created","data":%s}`, id, data)
		}
		bad := []struct{ name, payload, want string }{
			{"bad JSON", fmt.Sprintf(`{"installation_id":%d,"event":"error.created"`, id), "payload: not valid JSON"},
			{"not an object", `[{"installation_id":1}]`, "payload: not a JSON object"},
			{"a string", `"installation_id"`, "payload: not a JSON object"},
			{"no installation_id", `{"event":"error.created"}`, "payload: installation_id is missing"},
			{"installation_id 0", `{"installation_id":0,"event":"error.created"}`, "payload: installation_id must be positive, got 0"},
			{"installation_id -1", `{"installation_id":-1,"event":"error.created"}`, "payload: installation_id must be positive, got -1"},
			{"installation_id 1.5", `{"installation_id":1.5,"event":"error.created"}`, "payload: installation_id must be an integer, got 1.5"},
			{`installation_id "7"`, `{"installation_id":"7","event":"error.created"}`, `payload: installation_id must be an integer, got "7"`},
			{"event without a dot", withEvent("error"), `payload: event "error" must be <resource>.<action> with exactly one dot`},
			{"event with two dots", withEvent("error.created.now"), `payload: event "error.created.now" must be <resource>.<action> with exactly one dot`},
			{"unknown event", withEvent("error.deleted"), `payload: unknown event "error.deleted"`},
			{"data an array", withData(`[{"error":{}}]`), "payload: data must be a JSON object"},
			{"data a string", withData(`"{}"`), "payload: data must be a JSON object"},
			{"duplicate installation_id", fmt.Sprintf(`{"installation_id":%d,"event":"error.created","installation_id":%d}`, id, id),
				`payload: duplicate key "installation_id"`},
			{"upper-case key", fmt.Sprintf(`{"INSTALLATION_ID":%d,"event":"error.created"}`, id), "payload: installation_id is missing"},
			{"long s key", fmt.Sprintf(`{"inſtallation_id":%d,"event":"error.created"}`, id), "payload: installation_id is missing"},
			{"oversized", withData(`{"error":{"message":"` + strings.Repeat("x", nsMaxPayload) + `"}}`),
				fmt.Sprintf("over the limit of %d (MAX_PAYLOAD_BYTES)", nsMaxPayload)},
		}
		before := dlCount(h.w.Metrics.Rejected, tasks.TypeResourceChange)
		infos := make([]*asynq.TaskInfo, len(bad))
		for i, b := range bad {
			infos[i] = h.enqueueRaw([]byte(b.payload))
		}
		good := h.enqueue(tasks.ResourceChange{InstallationID: id, Event: "error.created", Data: json.RawMessage(`{"error":{"id":"9"}}`)})

		for i, b := range bad {
			got := h.waitState(tasks.QueueAppPlatform, infos[i].ID, asynq.TaskStateArchived)
			require.Zero(t, got.Retried, "%s: archived at once", b.name)
			require.Contains(t, got.LastErr, b.want, b.name)
		}
		h.waitState(tasks.QueueAppPlatform, good.ID, asynq.TaskStateCompleted)
		reqs := rc.requests()
		require.Len(t, reqs, 1, "only the good task is delivered")
		require.Equal(t, `{"action":"created","installation":{"uuid":"`+seed.InstallationUUID+`"},"data":{"error":{"id":"9"}},`+
			`"actor":{"type":"application","id":"sentry","name":"Sentry"}}`, string(reqs[0].Body))
		require.True(t, webhook.Verify(seed.ClientSecret, reqs[0].Body, reqs[0].Header.Get("Sentry-Hook-Signature")))
		require.Equal(t, before+float64(len(bad)), dlCount(h.w.Metrics.Rejected, tasks.TypeResourceChange))
		require.GreaterOrEqual(t, h.logs.FilterMessage("send_resource_change_webhook.bad_payload").Len(), len(bad))
		require.Len(t, h.lrange(requestlog.RequestKey(seed.SentryAppID, "error.created")), 1)
	})
}
