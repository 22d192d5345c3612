package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// TestRealReceiversVerify delivers webhooks through asynq and a real worker
// to receivers that verify them with code hookworker did not write.
func TestRealReceiversVerify(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})

	// Sentry's example integration checks the signature over
	// JSON.stringify(JSON.parse(body)): every producer payload below was
	// refused with 401 while hookworker copied the producer's bytes.
	t.Run("Sentry example receiver in Node", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		node := startNodeReceiver(t)
		seed := h.seed(models.SeedOptions{WebhookURL: node.url, Status: models.AppInternal, Events: []string{"issue.created"}})
		node.setSecret(seed.ClientSecret)

		goMarshal, err := json.Marshal(map[string]any{"issue": map[string]any{
			"title": "<script> & </script>", "culprit": "a<b && c>d", "score": 1.5,
		}})
		require.NoError(t, err)
		require.Contains(t, string(goMarshal), `\u003cscript\u003e \u0026`, "Go's json.Marshal escapes HTML")
		goIndent, err := json.MarshalIndent(map[string]any{"issue": map[string]any{"tags": []string{"a&b", "é"}}}, "", "  ")
		require.NoError(t, err)

		payloads := []struct {
			name, data, actor string
			check             func(t *testing.T, data map[string]any)
		}{
			{name: "\\u00e9 escapes", data: `{"issue":{"title":"caf\u00e9 \u00e9t\u00e9 \u2713 \ud83d\ude00"}}`,
				actor: `{"type":"user","id":"1","name":"\u00c9mile"}`,
				check: func(t *testing.T, d map[string]any) { require.Equal(t, "café été ✓ 😀", issue(t, d)["title"]) }},
			{name: "Go json.Marshal with < > &", data: string(goMarshal),
				check: func(t *testing.T, d map[string]any) { require.Equal(t, "<script> & </script>", issue(t, d)["title"]) }},
			{name: "Go json.MarshalIndent", data: string(goIndent)},
			{name: "escaped slashes", data: `{"issue":{"permalink":"https:\/\/sentry.example.com\/organizations\/acme\/issues\/1\/"}}`,
				check: func(t *testing.T, d map[string]any) {
					require.Equal(t, "https://sentry.example.com/organizations/acme/issues/1/", issue(t, d)["permalink"])
				}},
			{name: "floats written 1.0", data: `{"issue":{"score":1.0,"ratio":2.50,"count":1e2,"tiny":1E-7,"huge":1e21,"neg":-0.0}}`,
				check: func(t *testing.T, d map[string]any) { require.Equal(t, 100.0, issue(t, d)["count"]) }},
			{name: "integer-like keys", data: `{"issue":{"stats":{"24h":[[1718092800,0]],"30":1,"7":2,"a":3,"0":4}},"1":"first"}`,
				check: func(t *testing.T, d map[string]any) { require.Equal(t, "first", d["1"]) }},
			{name: "control characters, quotes, lone surrogate, repeated key",
				data:  `{"issue":{"message":"line\u000Aline\u0001\"q\"\\ \ud800","id":"1","id":"2"}}`,
				check: func(t *testing.T, d map[string]any) { require.Equal(t, "2", issue(t, d)["id"]) }},
			{name: "nested", data: `{"issue":{"a":{"b":[{"c":{"10":"\u00e9","9":[1.0,{"x":"\/"}]}}]},"metadata":{"value":"\u003c\u003e"}}}`},
		}
		ids := map[string]int{}
		for i, p := range payloads {
			rc := tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created", Data: json.RawMessage(p.data)}
			if p.actor != "" {
				rc.Actor = json.RawMessage(p.actor)
			}
			ids[h.enqueue(rc).ID] = i
		}
		for id := range ids {
			// A 401 completes the task too (a client error is not retried):
			// the receiver's reports below say whether it accepted it.
			h.waitState(tasks.QueueAppPlatform, id, asynq.TaskStateCompleted)
		}
		// Every attempt the receiver saw (a loaded machine may time one out
		// and retry it) passed its check.
		seen := node.results(t, func(rs []nodeResult) bool {
			got := map[string]bool{}
			for _, r := range rs {
				got[r.Delivery] = true
			}
			return len(got) >= len(ids)
		})
		for _, r := range seen {
			i, ok := ids[r.Delivery]
			require.True(t, ok, "delivery %q is one of ours", r.Delivery)
			require.True(t, r.OK, "%s: Node verified the signature", payloads[i].name)
			if payloads[i].check != nil {
				var data map[string]any
				require.NoError(t, json.Unmarshal(r.Data, &data))
				payloads[i].check(t, data)
			}
		}

		// The receiver does refuse what hookworker used to send: the
		// producer's bytes, signed as they are.
		naive := fmt.Sprintf(`{"action":"created","installation":{"uuid":%q},"data":%s,"actor":%s}`,
			seed.InstallationUUID, goMarshal, webhook.DefaultActor)
		req, err := http.NewRequest(http.MethodPost, node.url, bytes.NewReader([]byte(naive)))
		require.NoError(t, err)
		req.Header.Set("Sentry-Hook-Signature", webhook.Sign(seed.ClientSecret, []byte(naive)))
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "a body with \\u003c escapes fails JSON.stringify's check")
	})

	// Standard Webhooks: Svix's Go library verifies every delivery, with the
	// client secret's bytes as the key or in its whsec_ form, and the
	// webhook-id is the same on a retry.
	t.Run("Standard Webhooks with Svix's library", func(t *testing.T) {
		testenv.Parallel(t)
		h := h.forSub(t)
		retryID := "std-retry-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		var failed atomic.Bool
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Hookworker-Delivery-ID") == retryID && failed.CompareAndSwap(false, true) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook", Status: models.AppInternal, Events: []string{"error.created"}})
		raw, err := svix.NewWebhookRaw([]byte(seed.ClientSecret))
		require.NoError(t, err)
		whsec, err := svix.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte(seed.ClientSecret)))
		require.NoError(t, err)

		change := func(data string) tasks.ResourceChange {
			return tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "error.created", Data: json.RawMessage(data)}
		}
		infos := []*asynq.TaskInfo{
			h.enqueue(change(`{"error":{"id":"1"}}`)),
			h.enqueue(change(`{"error":{"title":"caf\u00e9 <b>","n":1.0}}`)),
			h.enqueue(change(`{"error":{"id":"3"}}`), asynq.TaskID(retryID)),
		}
		for _, info := range infos {
			h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		}
		reqs := rc.requests()
		attempts := map[string]int{}
		for _, r := range reqs {
			id := r.Header.Get("Hookworker-Delivery-ID")
			attempts[id]++
			require.Equal(t, id, r.Header.Get("Webhook-Id"), "webhook-id is the delivery id")
			require.Equal(t, r.Header.Get("Sentry-Hook-Timestamp"), r.Header.Get("Webhook-Timestamp"))
			require.NoError(t, raw.Verify(r.Body, r.Header), "svix.NewWebhookRaw([]byte(client_secret))")
			require.NoError(t, whsec.Verify(r.Body, r.Header), "svix.NewWebhook(whsec_ + base64(client_secret))")
			require.True(t, webhook.Verify(seed.ClientSecret, r.Body, r.Header.Get("Sentry-Hook-Signature")), "Sentry's signature is unchanged")

			tampered := bytes.Replace(r.Body, []byte(`"created"`), []byte(`"deleted"`), 1)
			require.NotEqual(t, r.Body, tampered)
			require.EqualError(t, raw.Verify(tampered, r.Header), "No matching signature found")

			// The same delivery replayed ten minutes later is refused for
			// its age.
			stale := r.Header.Clone()
			stale.Set("Webhook-Timestamp", strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10))
			require.EqualError(t, raw.Verify(r.Body, stale), "Message timestamp too old")
		}
		// One attempt per task (more if a loaded machine timed one out) and
		// a retry after the 503, all with their task's webhook-id.
		require.Len(t, attempts, len(infos))
		require.GreaterOrEqual(t, attempts[infos[0].ID], 1)
		require.GreaterOrEqual(t, attempts[infos[1].ID], 1)
		require.GreaterOrEqual(t, attempts[retryID], 2)
	})
}

// WEBHOOK_STANDARD_HEADERS=false sends Sentry's headers only.
func TestStandardHeadersOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) { c.WebhookStandardHeaders = false }})
	rc := statusReceiver(t, http.StatusOK)
	seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + "/hook"})
	info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created",
		Data: json.RawMessage(`{"issue":{"id":"1"}}`)})
	h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
	reqs := rc.requests()
	require.Len(t, reqs, 1)
	for _, name := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		require.NotContains(t, reqs[0].Header, name)
	}
	require.Equal(t, info.ID, reqs[0].Header.Get("Hookworker-Delivery-ID"))
	require.True(t, webhook.Verify(seed.ClientSecret, reqs[0].Body, reqs[0].Header.Get("Sentry-Hook-Signature")))
}

// issue returns data.issue.
func issue(t *testing.T, data map[string]any) map[string]any {
	t.Helper()
	m, ok := data["issue"].(map[string]any)
	require.True(t, ok, "data.issue is an object: %v", data)
	return m
}

// nodeReceiver is worker/testdata/sentry-example-receiver.js running in
// Node.
type nodeReceiver struct {
	url   string
	stdin io.WriteCloser
	mu    sync.Mutex
	lines []nodeResult
}

// nodeResult is what the Node receiver printed for one request.
type nodeResult struct {
	OK       bool            `json:"ok"`
	Delivery string          `json:"delivery"`
	Data     json.RawMessage `json:"data"`
}

// startNodeReceiver starts the Node receiver, or skips the test without
// node (apt-get install -y nodejs; .ci/run installs it).
func startNodeReceiver(t *testing.T) *nodeReceiver {
	t.Helper()
	nodePath, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH (apt-get install -y nodejs); the Sentry example receiver is not run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nodePath, "testdata/sentry-example-receiver.js")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close() // the receiver exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("node stderr: %s", stderr.String())
		}
	})

	n := &nodeReceiver{stdin: stdin}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	ports := make(chan int, 1)
	go func() {
		for sc.Scan() {
			var first struct {
				Port int `json:"port"`
			}
			if json.Unmarshal(sc.Bytes(), &first) == nil && first.Port != 0 {
				ports <- first.Port
				continue
			}
			var r nodeResult
			if err := json.Unmarshal(sc.Bytes(), &r); err == nil {
				n.mu.Lock()
				n.lines = append(n.lines, r)
				n.mu.Unlock()
			}
		}
	}()
	select {
	case port := <-ports:
		n.url = fmt.Sprintf("http://127.0.0.1:%d/sentry/webhook", port)
	case <-time.After(15 * time.Second):
		t.Fatalf("the Node receiver did not start: %s", stderr.String())
	}
	return n
}

// setSecret gives the receiver the app's client secret.
func (n *nodeReceiver) setSecret(secret string) {
	_, _ = io.WriteString(n.stdin, secret+"\n")
}

// results waits until the receiver's reports satisfy done and returns them.
func (n *nodeReceiver) results(t *testing.T, done func([]nodeResult) bool) []nodeResult {
	t.Helper()
	var got []nodeResult
	require.Eventually(t, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		got = append([]nodeResult(nil), n.lines...)
		return done(got)
	}, 15*time.Second, 5*time.Millisecond, "the Node receiver did not report every delivery")
	return got
}
