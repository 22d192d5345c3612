package ops

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The queue UI's clients wait up to 30 s for a reply (a page of large
// archived tasks), unless REDIS_URL sets read_timeout; each call makes a
// new client with the UI's small pool.
func TestUIRedisTimeouts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want time.Duration
	}{
		{"redis://127.0.0.1:6379/2", uiReadTimeout},
		{"redis://127.0.0.1:6379/2?read_timeout=5s", 5 * time.Second},
	} {
		opt, err := newUIRedis(tc.url)
		require.NoError(t, err)
		a, b := opt.MakeRedisClient().(*redis.Client), opt.MakeRedisClient().(*redis.Client)
		require.NotSame(t, a, b)
		require.Equal(t, tc.want, a.Options().ReadTimeout, tc.url)
		require.Equal(t, uiPoolSize, a.Options().PoolSize)
		require.Equal(t, 2, a.Options().DB)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	}
}
