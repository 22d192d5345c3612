package ingest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/webhook"
	"github.com/hookworker/hookworker/worker"
)

// hookReceiver is a real loopback HTTP server recording the webhooks it
// gets: delivery id, signature and body.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []gotHook
}

type gotHook struct {
	id, signature string
	body          []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, gotHook{id: r.Header.Get("Hookworker-Delivery-ID"), signature: r.Header.Get("Sentry-Hook-Signature"), body: body})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) hooks() []gotHook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]gotHook(nil), rc.got...)
}

// startDeliveryWorker runs a real worker on r's database with a schema of
// its own and one installation delivering to a new receiver.
func startDeliveryWorker(t *testing.T, r *testenv.Redis) (*hookReceiver, models.SeedResult) {
	t.Helper()
	pg := testenv.NewPostgres(t)
	require.NoError(t, models.Migrate(pg.DB))
	rc := newHookReceiver(t)
	seed, err := models.Seed(pg.DB, models.SeedOptions{WebhookURL: rc.URL + "/hook", Status: models.AppPublished,
		Events: []string{"issue.created"}})
	require.NoError(t, err)
	cfg := config.Defaults()
	cfg.WorkerConcurrency, cfg.WorkerFetchers = 10, 2
	cfg.WebhookTimeout, cfg.WebhookRetryDelay = 2*time.Second, 10*time.Millisecond
	cfg.TaskCheckInterval, cfg.DelayedTaskCheckInterval = 10*time.Millisecond, 50*time.Millisecond
	cfg.ShutdownTimeout, cfg.WebhookAllowPrivate, cfg.HTTPAddr, cfg.CacheTTL = 2*time.Second, true, "off", 0
	w, err := worker.New(worker.Deps{Config: cfg, Redis: r.Client, DB: pg.DB, Log: zap.New(zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Core())})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	return rc, seed
}

// Through a real worker: the same Idempotency-Key twice, while the task
// waits and after it was delivered, gives one webhook; a batch with good
// and bad items delivers the good ones under the ids it answered, signed.
func TestDeliveredOnce(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	b := setup(t, r.Client, r.Client)
	rc, seed := startDeliveryWorker(t, r)
	verify := func(h gotHook) bool { return webhook.Verify(seed.ClientSecret, h.body, h.signature) }

	body := fmt.Sprintf(`{"installation_id":%d,"event":"issue.created","data":{"issue":{"id":"1","title":"once"}}}`, seed.InstallationID)
	code, _, first := b.post(t, "/v1/resource-changes", body, "Idempotency-Key", "change-1")
	require.Equal(t, http.StatusAccepted, code)
	code, _, again := b.post(t, "/v1/resource-changes", body, "Idempotency-Key", "change-1")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, first["id"], again["id"])
	require.Eventually(t, func() bool { return len(rc.hooks()) >= 1 }, 15*time.Second, 5*time.Millisecond)
	// Delivered and gone from the queue: the key still answers the same id.
	code, _, late := b.post(t, "/v1/resource-changes", body, "Idempotency-Key", "change-1")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, first["id"], late["id"])

	good := func(title string) string {
		return fmt.Sprintf(`{"installation_id":%d,"event":"issue.created","data":{"issue":{"id":"2","title":%q}}}`, seed.InstallationID, title)
	}
	batch := "[" + strings.Join([]string{good("a"), `{"installation_id":1,"event":"issue"}`, good("b"), `[]`}, ",") + "]"
	code, _, v := b.post(t, "/v1/resource-changes/batch", batch)
	require.Equal(t, http.StatusOK, code, v)
	var results []map[string]any
	for _, res := range v["results"].([]any) {
		results = append(results, res.(map[string]any))
	}
	require.Len(t, results, 4)
	require.NotEmpty(t, results[0]["id"])
	require.NotEmpty(t, results[2]["id"])
	require.Contains(t, results[1]["error"], "payload: ")
	require.Contains(t, results[3]["error"], "payload: ")

	// The batch's two webhooks arrive; the replayed key added none.
	require.Eventually(t, func() bool { return len(rc.hooks()) >= 3 }, 15*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		info, err := b.insp.GetQueueInfo("app_platform")
		return err == nil && info.Size == 0 && info.Processed >= 3
	}, 15*time.Second, 5*time.Millisecond)
	info, err := b.insp.GetQueueInfo("app_platform")
	require.NoError(t, err)
	require.Equal(t, 3, info.Processed, "the replayed key enqueued a task")
	ids := map[any]int{}
	for _, h := range rc.hooks() {
		require.True(t, verify(h), "the signature verifies with the app's secret")
		ids[h.id]++
	}
	require.Equal(t, map[any]int{first["id"]: 1, results[0]["id"]: 1, results[2]["id"]: 1}, ids)
}
