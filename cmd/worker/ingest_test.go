package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/webhook"
)

// A producer in Python (examples/python/produce.py, standard library only)
// and the README's curl line enqueue over the worker's HTTP ingest API, and
// the webhooks arrive signed.
func TestIngestFromPythonAndCurl(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	redisAddr, httpAddr, ingestAddr := freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)
	const token = "test-ingest-token-0123456789"
	env := cleanEnv("EMBEDDED_REDIS_ADDR="+redisAddr, "HTTP_ADDR="+httpAddr, "WEBHOOK_ALLOW_PRIVATE=true",
		"INGEST_ADDR="+ingestAddr, "INGEST_TOKENS=another-token-abcdefgh,"+token)

	hooks := make(chan capturedRequest, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hooks <- capturedRequest{header: r.Header.Clone(), body: body, path: r.URL.Path}
	}))
	t.Cleanup(receiver.Close)

	w := startProcess(t, dir, env, filepath.Join(bin, "worker"))
	waitReady(t, w, "http://"+httpAddr+"/readyz")
	out := runCommand(t, dir, env, filepath.Join(bin, "worker"), "seed", "--webhook-url", receiver.URL+"/hook")
	var seed models.SeedResult
	require.NoError(t, json.Unmarshal([]byte(out), &seed), out)

	expect := func(id, contains string) {
		t.Helper()
		select {
		case got := <-hooks:
			require.True(t, webhook.Verify(seed.ClientSecret, got.body, got.header.Get("Sentry-Hook-Signature")), "signature verifies")
			require.Equal(t, id, got.header.Get("Hookworker-Delivery-ID"))
			require.Contains(t, string(got.body), contains)
		case <-time.After(30 * time.Second):
			t.Fatalf("no webhook arrived; worker logs:\n%s", w.logs())
		}
	}

	script, err := filepath.Abs(filepath.Join(repoRoot, "examples", "python", "produce.py"))
	require.NoError(t, err)
	pyEnv := append(env, "HOOKWORKER_INGEST_URL=http://"+ingestAddr, "HOOKWORKER_INGEST_TOKEN="+token)
	id := strings.TrimSpace(runCommand(t, dir, pyEnv, python, script,
		fmt.Sprint(seed.InstallationID), "issue.created", `{"issue":{"id":"7","title":"café <b>"}}`))
	require.NotEmpty(t, id)
	expect(id, `"title":"café <b>"`)

	if curl, err := exec.LookPath("curl"); err == nil {
		// The README's line, with this test's address, token and installation.
		out := runCommand(t, dir, env, curl, "-sS", "-X", "POST", "http://"+ingestAddr+"/v1/resource-changes",
			"-H", "Authorization: Bearer "+token, "-H", "Idempotency-Key: readme-1",
			"-d", fmt.Sprintf(`{"installation_id": %d, "event": "issue.created", "data": {"issue": {"id": "1"}}}`, seed.InstallationID))
		var v struct{ ID string }
		require.NoError(t, json.Unmarshal([]byte(out), &v), out)
		expect(v.ID, `"issue":{"id":"1"}`)
	}

	resp, err := http.Post("http://"+ingestAddr+"/v1/resource-changes", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no token, no entry")
	metrics := httpGet(t, "http://"+httpAddr+"/metrics")
	require.Contains(t, metrics, `hookworker_ingest_requests_total{endpoint="single",result="accepted"} 2`)
	require.Contains(t, metrics, `hookworker_ingest_requests_total{endpoint="single",result="unauthorized"} 1`)
}
