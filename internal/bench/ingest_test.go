package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/tasks"
)

// The batch-ingest figure enqueues every line once, through real HTTP and
// Redis, in batches of 1,000 and a last partial one.
func TestIngestBatchRate(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	const n = 2500
	var lines []byte
	for i := range n {
		lines = fmt.Appendf(lines, `{"installation_id":%d,"event":"issue.created","data":{"issue":{"id":"%d"}}}`+"\n", 1+i%7, i)
	}
	perS, got, err := ingestBatchRate(context.Background(), r.URL, lines)
	require.NoError(t, err)
	require.Equal(t, n, got)
	require.Positive(t, perS)
	pending, err := r.Client.LLen(context.Background(), "asynq:{"+tasks.QueueAppPlatform+"}:pending").Result()
	require.NoError(t, err)
	require.Equal(t, int64(n), pending)
}
