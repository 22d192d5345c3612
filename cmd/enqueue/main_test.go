package main

import (
	"bytes"
	"fmt"
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
