package embedded_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/embedded"
)

func start(t *testing.T) (*embedded.Redis, *redis.Client) {
	t.Helper()
	r, err := embedded.StartRedis("127.0.0.1:0", 10*time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	opt, err := redis.ParseURL(r.URL())
	require.NoError(t, err)
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return r, c
}

// TestKeysExpireWithWallClock checks that TTLs run out without anyone
// advancing miniredis by hand (leases, unique locks and the breaker's day
// counters rely on it).
func TestKeysExpireWithWallClock(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "k", "v", 150*time.Millisecond).Err())
	require.Equal(t, int64(1), c.Exists(ctx, "k").Val())
	require.Eventually(t, func() bool { return c.Exists(ctx, "k").Val() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestTakenAddressNamesTheWayOut checks the message when the address is in
// use: it must tell the person to set REDIS_URL or move the embedded Redis.
func TestTakenAddressNamesTheWayOut(t *testing.T) {
	t.Parallel()
	r, _ := start(t)
	_, err := embedded.StartRedis(r.Addr(), time.Second)
	require.ErrorContains(t, err, "REDIS_URL")
	require.ErrorContains(t, err, "EMBEDDED_REDIS_ADDR")
}

// TestInspectorWorks runs the asynq inspector queries the queue UI and the
// queue metrics use (Lua scripts with MEMORY USAGE) against the embedded Redis.
func TestInspectorWorks(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	client := asynq.NewClientFromRedisClient(c)
	_, err := client.Enqueue(asynq.NewTask("t", []byte("{}")), asynq.Queue("q"))
	require.NoError(t, err)
	ins := asynq.NewInspectorFromRedisClient(c)
	queues, err := ins.Queues()
	require.NoError(t, err)
	require.Equal(t, []string{"q"}, queues)
	info, err := ins.GetQueueInfo("q")
	require.NoError(t, err)
	require.Equal(t, 1, info.Pending)
	require.Positive(t, info.MemoryUsage, "MEMORY USAGE answers")
	_, err = ins.History("q", 7)
	require.NoError(t, err)
}

// The embedded Redis carries a marker key, and Advertise writes its address
// to a file that Close removes.
func TestMarkerAndAddrFile(t *testing.T) {
	t.Parallel()
	r, err := embedded.StartRedis("127.0.0.1:0", 10*time.Millisecond)
	require.NoError(t, err)
	opt, err := redis.ParseURL(r.URL())
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	require.Equal(t, int64(1), c.Exists(context.Background(), embedded.MarkerKey).Val())

	path := filepath.Join(t.TempDir(), embedded.AddrFile)
	require.NoError(t, r.Advertise(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, r.Addr()+"\n", string(b))
	r.Close()
	require.NoFileExists(t, path)
}
