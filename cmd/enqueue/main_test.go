package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/embedded"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/producer"
	"github.com/hookworker/hookworker/redisconn"
)

// onTestRedis gives t a Redis database of its own and the default
// configuration pointing at it.
func onTestRedis(t *testing.T) (*testenv.Redis, config.Config) {
	t.Helper()
	r := testenv.NewRedis(t)
	cfg := config.Defaults()
	cfg.RedisURL = r.URL
	return r, cfg
}

// `enqueue bulk` enqueues every valid line exactly once, byte for byte, and
// reports each bad line by number without losing the others.
func TestBulk(t *testing.T) {
	t.Parallel()
	r, cfg := onTestRedis(t)

	const good = 2000
	var in bytes.Buffer
	var want []string
	for i := range good {
		line := fmt.Sprintf(`{"installation_id":%d,"event":"issue.created","data":{"issue":{"id":"%d"}}}`, i%7+1, i)
		want = append(want, line)
		in.WriteString(line + "\n")
		if i == 10 {
			in.WriteString("{not json\n")
		}
		if i == 500 {
			in.WriteString("\n" + `{"installation_id":1,"event":"issue.exploded"}` + "\n")
		}
	}
	var stdout, stderr bytes.Buffer
	err := bulk(cfg, noEnv(t), []string{"--workers", "16"}, &in, &stdout, &stderr)
	require.ErrorContains(t, err, "2 of 2003 lines not enqueued")
	require.Contains(t, stdout.String(), "enqueued 2000 tasks")
	require.Contains(t, stderr.String(), "line 12: ")
	require.Contains(t, stderr.String(), "line 504: ")
	require.Equal(t, 2, strings.Count(stderr.String(), "\n"), stderr.String())

	insp := asynq.NewInspectorFromRedisClient(r.Client)
	var got []string
	for page := 1; ; page++ {
		infos, err := insp.ListPendingTasks(producer.QueueAppPlatform, asynq.PageSize(1000), asynq.Page(page))
		require.NoError(t, err)
		if len(infos) == 0 {
			break
		}
		for _, info := range infos {
			require.Equal(t, producer.TypeResourceChange, info.Type)
			require.Equal(t, producer.TaskMaxRetry, info.MaxRetry)
			require.Equal(t, producer.TaskTimeout, info.Timeout)
			got = append(got, string(info.Payload))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got)
}

// An oversized line — even one far larger than the limit and than the read
// buffer — is reported by number and the lines after it are enqueued; the
// exit status says how many lines failed.
func TestBulkOversizedLines(t *testing.T) {
	t.Parallel()
	r, cfg := onTestRedis(t)
	cfg.MaxPayloadBytes = 100 << 10

	payload := func(i, size int) string {
		return fmt.Sprintf(`{"installation_id":%d,"event":"issue.created","data":{"x":"%s"}}`, i, strings.Repeat("a", size))
	}
	var in bytes.Buffer
	in.WriteString(payload(1, 10) + "\n")
	in.WriteString(payload(2, 1<<20) + "\n")      // line 2: ten times the limit, sixteen read buffers
	in.WriteString(payload(3, 70<<10) + "\r\n")   // line 3: over one read buffer, under the limit
	in.WriteString(payload(4, 100<<10-50) + "\n") // line 4: just over the limit
	in.WriteString("{\n")                         // line 5: bad JSON
	in.WriteString(payload(6, 10))                // line 6: no final newline
	var stdout, stderr bytes.Buffer
	err := bulk(cfg, noEnv(t), []string{"--workers", "4"}, &in, &stdout, &stderr)
	require.EqualError(t, err, "3 of 6 lines not enqueued")
	require.Contains(t, stdout.String(), "enqueued 3 tasks")
	require.Contains(t, stdout.String(), "3 bad lines")
	require.Contains(t, stderr.String(), fmt.Sprintf("line 2: payload: %d bytes is over the limit of 102400 (MAX_PAYLOAD_BYTES)\n", len(payload(2, 1<<20))))
	require.Contains(t, stderr.String(), fmt.Sprintf("line 4: payload: %d bytes is over the limit of 102400 (MAX_PAYLOAD_BYTES)\n", len(payload(4, 100<<10-50))))
	require.Contains(t, stderr.String(), "line 5: payload: not valid JSON")
	require.Equal(t, 3, strings.Count(stderr.String(), "\n"), stderr.String())

	insp := asynq.NewInspectorFromRedisClient(r.Client)
	infos, err := insp.ListPendingTasks(producer.QueueAppPlatform, asynq.PageSize(100))
	require.NoError(t, err)
	var ids []int64
	for _, info := range infos {
		p, err := producer.Decode(info.Payload, cfg.MaxPayloadBytes)
		require.NoError(t, err)
		ids = append(ids, p.InstallationID)
	}
	slices.Sort(ids)
	require.Equal(t, []int64{1, 3, 6}, ids)
}

// resource-change refuses an oversized --data before Redis, whether inline,
// from a file or from stdin, without reading it whole.
func TestResourceChangeOversized(t *testing.T) {
	t.Parallel()
	r, cfg := onTestRedis(t)
	cfg.MaxPayloadBytes = 1024

	big := `{"issue":{"title":"` + strings.Repeat("a", 2000) + `"}}`
	file := t.TempDir() + "/data.json"
	require.NoError(t, os.WriteFile(file, []byte(big), 0o600))
	for _, data := range []string{big, "@" + file, "-"} {
		var stdout bytes.Buffer
		err := resourceChange(cfg, noEnv(t), []string{"--installation-id", "1", "--event", "issue.created", "--data", data},
			strings.NewReader(big), &stdout, io.Discard)
		require.ErrorContains(t, err, "over the limit of 1024 (MAX_PAYLOAD_BYTES)", data[:1])
		require.Empty(t, stdout.String())
	}
	// Data under the limit whose payload, once encoded, is over it.
	near := `{"issue":{"title":"` + strings.Repeat("a", 990) + `"}}`
	err := resourceChange(cfg, noEnv(t), []string{"--installation-id", "1", "--event", "issue.created", "--data", near},
		nil, io.Discard, io.Discard)
	require.ErrorContains(t, err, "payload: 1065 bytes is over the limit of 1024 (MAX_PAYLOAD_BYTES)")

	n, err := r.Client.DBSize(context.Background()).Result()
	require.NoError(t, err)
	require.Zero(t, n, "nothing reached Redis")
}

// noEnv is a command's surroundings with no variable set and an empty
// working directory.
func noEnv(t *testing.T) env {
	return env{getenv: func(string) string { return "" }, dir: t.TempDir()}
}

func TestConstantsMatchEmbedded(t *testing.T) {
	t.Parallel()
	require.Equal(t, embedded.AddrFile, addrFile)
	require.Equal(t, embedded.MarkerKey, markerKey)
}

// Every command answers --help with exit status 0; missing flags are named.
func TestHelpAndRequiredFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"resource-change", "--help"}, {"resource-change", "-h"}, {"bulk", "--help"}} {
		var stdout bytes.Buffer
		require.NoError(t, run(args, noEnv(t), nil, &stdout, io.Discard), "%v", args)
		require.Contains(t, stdout.String(), "sage", "%v prints its usage", args)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"resource-change", "--installation-id", "1"}, "--event is required, e.g. --event issue.created"},
		{[]string{"resource-change", "--event", "issue.created"}, "--installation-id is required"},
		{[]string{"resource-change", "--installation-id", "1", "--event", "issue.created", "--actor", "[]"}, "payload: actor must be a JSON object"},
		{[]string{"resource-change", "--installation-id", "1", "--event", "issue.created", "--actor", "{"}, "--actor: not valid JSON"},
		{[]string{"resource-change", "--installation-id", "1", "--event", "issue.created", "--project-id", "-3"}, "project_id must be positive"},
		{[]string{"nope"}, `unknown command "nope"`},
	} {
		err := run(tt.args, noEnv(t), nil, io.Discard, io.Discard)
		require.ErrorContains(t, err, tt.want, "%v", tt.args)
	}
}

// resource-change sends --actor and says which Redis it wrote to, without
// the password.
// A deployment that changes WEBHOOK_MAX_RETRIES gets tasks whose MaxRetry
// is that limit, from both commands.
func TestMaxRetryFollowsWebhookMaxRetries(t *testing.T) {
	t.Parallel()
	r, cfg := onTestRedis(t)
	cfg.WebhookMaxRetries = 30
	var stdout, stderr bytes.Buffer
	require.NoError(t, resourceChange(cfg, noEnv(t), []string{"--installation-id", "3", "--event", "issue.created", "--no-check"},
		nil, &stdout, &stderr))
	require.NoError(t, bulk(cfg, noEnv(t), nil, strings.NewReader(`{"installation_id":4,"event":"issue.created"}`+"\n"), &stdout, &stderr))
	infos, err := asynq.NewInspectorFromRedisClient(r.Client).ListPendingTasks(producer.QueueAppPlatform)
	require.NoError(t, err)
	require.Len(t, infos, 2)
	for _, info := range infos {
		require.Equal(t, 30, info.MaxRetry, "task %s", info.Payload)
	}
}

func TestResourceChangeActorAndTarget(t *testing.T) {
	t.Parallel()
	r, cfg := onTestRedis(t)
	var stdout, stderr bytes.Buffer
	err := resourceChange(cfg, noEnv(t), []string{"--installation-id", "3", "--event", "comment.created",
		"--data", `{"comment":{"id":"1"}}`, "--actor", `{"type":"user","id":"9","name":"Ann"}`}, nil, &stdout, &stderr)
	require.NoError(t, err)
	id := strings.TrimSpace(stdout.String())
	info, err := asynq.NewInspectorFromRedisClient(r.Client).GetTaskInfo(producer.QueueAppPlatform, id)
	require.NoError(t, err)
	require.Equal(t, `{"installation_id":3,"event":"comment.created","data":{"comment":{"id":"1"}},"actor":{"type":"user","id":"9","name":"Ann"}}`,
		string(info.Payload))
	opt := r.Client.Options()
	ro, err := redisconn.Parse(r.URL)
	require.NoError(t, err)
	require.Contains(t, stderr.String(), fmt.Sprintf("enqueue: wrote task %s to redis at %s (REDIS_URL)\n", id, ro))
	if opt.Password != "" {
		require.NotContains(t, stderr.String(), opt.Password)
	}
}

// Without REDIS_URL, enqueue writes only into a worker's embedded Redis: at
// EMBEDDED_REDIS_ADDR, else at the address the worker advertised in the
// working directory; another Redis at that address is refused by name.
func TestEmbeddedTarget(t *testing.T) {
	t.Parallel()
	emb, err := embedded.StartRedis("127.0.0.1:0", 10*time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(emb.Close)
	other := testenv.NewRedis(t) // a Redis that is not the worker's
	otherAddr := other.Client.Options().Addr
	cfg := config.Defaults()
	cfg.EmbeddedRedisAddr = otherAddr
	args := []string{"--installation-id", "1", "--event", "issue.created"}

	// The worker's directory: its address file wins over the default.
	dir := t.TempDir()
	require.NoError(t, emb.Advertise(filepath.Join(dir, addrFile)))
	var stdout, stderr bytes.Buffer
	e := env{getenv: func(string) string { return "" }, dir: dir}
	require.NoError(t, resourceChange(cfg, e, args, nil, &stdout, &stderr))
	require.Contains(t, stderr.String(), "to redis at "+emb.Addr()+" db 0 (the worker's embedded Redis, from hookworker-redis.addr")
	embClient := redis.NewClient(&redis.Options{Addr: emb.Addr()})
	defer embClient.Close()
	_, err = asynq.NewInspectorFromRedisClient(embClient).GetTaskInfo(producer.QueueAppPlatform, strings.TrimSpace(stdout.String()))
	require.NoError(t, err, "the task is in the worker's Redis")

	// EMBEDDED_REDIS_ADDR pointing at another Redis: refused, nothing written.
	e = env{getenv: func(k string) string {
		if k == "EMBEDDED_REDIS_ADDR" {
			return otherAddr
		}
		return ""
	}, dir: dir}
	err = resourceChange(cfg, e, args, nil, io.Discard, io.Discard)
	require.ErrorContains(t, err, "redis at "+otherAddr+" db 0 (the worker's embedded Redis, from EMBEDDED_REDIS_ADDR) answers but is not a hookworker worker's embedded Redis")
	err = bulk(cfg, noEnv(t), nil, strings.NewReader(`{"installation_id":1,"event":"issue.created"}`), io.Discard, io.Discard)
	require.ErrorContains(t, err, "is not a hookworker worker's embedded Redis", "the default address, no file")
	db0 := redis.NewClient(&redis.Options{Addr: otherAddr, Username: other.Client.Options().Username, Password: other.Client.Options().Password})
	defer db0.Close()
	n, err := db0.Exists(context.Background(), "asynq:{"+producer.QueueAppPlatform+"}:pending").Result()
	require.NoError(t, err)
	require.Zero(t, n, "nothing was written into the other Redis's database 0")
}

// resource-change warns when the installation does not exist in the
// database it can reach, enqueues anyway, and --no-check skips the lookup.
func TestInstallationCheck(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	require.NoError(t, models.Migrate(pg.DB))
	seed, err := models.Seed(pg.DB, models.SeedOptions{WebhookURL: "https://example.com/hook", Status: models.AppInternal})
	require.NoError(t, err)
	cfg := config.Defaults()
	cfg.RedisURL, cfg.DatabaseURL = r.URL, pg.URL

	enqueue := func(id int64, extra ...string) string {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--installation-id", fmt.Sprint(id), "--event", "issue.created"}, extra...)
		require.NoError(t, resourceChange(cfg, noEnv(t), args, nil, &stdout, &stderr))
		require.NotEmpty(t, strings.TrimSpace(stdout.String()), "enqueued anyway")
		return stderr.String()
	}
	require.NotContains(t, enqueue(seed.InstallationID), "warning")
	missing := seed.InstallationID + 1_000_000
	require.Contains(t, enqueue(missing), fmt.Sprintf("enqueue: warning: installation %d does not exist or is not installed in the database at DATABASE_URL", missing))
	require.NotContains(t, enqueue(missing, "--no-check"), "installation")

	cfg.DatabaseURL = "" // no database here: said, not an error
	var stderr bytes.Buffer
	require.NoError(t, resourceChange(cfg, noEnv(t), []string{"--installation-id", "5", "--event", "issue.created"}, nil, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "installation 5 not checked: no DATABASE_URL and no hookworker.db here")
}
