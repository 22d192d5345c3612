package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/producer"
)

// `enqueue bulk` enqueues every valid line exactly once, byte for byte, and
// reports each bad line by number without losing the others.
func TestBulk(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	cfg := config.Defaults()
	cfg.RedisURL = r.URL

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
	err := bulk(cfg, []string{"--workers", "16"}, &in, &stdout, &stderr)
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
	r := testenv.NewRedis(t)
	cfg := config.Defaults()
	cfg.RedisURL = r.URL
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
	err := bulk(cfg, []string{"--workers", "4"}, &in, &stdout, &stderr)
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
	r := testenv.NewRedis(t)
	cfg := config.Defaults()
	cfg.RedisURL = r.URL
	cfg.MaxPayloadBytes = 1024

	big := `{"issue":{"title":"` + strings.Repeat("a", 2000) + `"}}`
	file := t.TempDir() + "/data.json"
	require.NoError(t, os.WriteFile(file, []byte(big), 0o600))
	for _, data := range []string{big, "@" + file, "-"} {
		var stdout bytes.Buffer
		err := resourceChange(cfg, []string{"--installation-id", "1", "--event", "issue.created", "--data", data},
			strings.NewReader(big), &stdout, io.Discard)
		require.ErrorContains(t, err, "over the limit of 1024 (MAX_PAYLOAD_BYTES)", data[:1])
		require.Empty(t, stdout.String())
	}
	// Data under the limit whose payload, once encoded, is over it.
	near := `{"issue":{"title":"` + strings.Repeat("a", 990) + `"}}`
	err := resourceChange(cfg, []string{"--installation-id", "1", "--event", "issue.created", "--data", near},
		nil, io.Discard, io.Discard)
	require.ErrorContains(t, err, "payload: 1065 bytes is over the limit of 1024 (MAX_PAYLOAD_BYTES)")

	n, err := r.Client.DBSize(context.Background()).Result()
	require.NoError(t, err)
	require.Zero(t, n, "nothing reached Redis")
}
