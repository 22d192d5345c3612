package bench

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
)

// A --redis-url database is used only when empty, since the bench flushes
// it between phases: one key of somebody else's refuses the run and stays.
func TestRedisURLMustBeEmpty(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	ctx := context.Background()
	require.NoError(t, requireEmpty(ctx, []*redis.Client{r.Client}))
	require.NoError(t, r.Client.Set(ctx, "someone:else", "1", 0).Err())
	err := requireEmpty(ctx, []*redis.Client{r.Client})
	require.ErrorContains(t, err, "holds 1 keys")
	require.ErrorContains(t, err, "needs an empty one")
	require.Equal(t, "1", r.Client.Get(ctx, "someone:else").Val(), "the key is left alone")
}
