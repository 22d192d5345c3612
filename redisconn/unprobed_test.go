package redisconn_test

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/redisconn"
)

// The clients NewClient makes hold connections that do not offer their
// file descriptor, so go-redis does not probe them with a syscall before
// every command; a connection Redis closed while it sat idle is replaced
// on its next command without the caller seeing an error.
func TestClientSurvivesAnIdleConnectionClosedByRedis(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	o, err := redisconn.Parse(r.URL)
	require.NoError(t, err)
	var dialled []any
	c := redisconn.NewClient(o, func(u *redis.UniversalOptions) { u.PoolSize = 1 })
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	c.(*redis.Client).AddHook(connHook{seen: &dialled})

	id, err := c.Do(ctx, "CLIENT", "ID").Int64()
	require.NoError(t, err)
	require.Len(t, dialled, 1)
	_, probed := dialled[0].(syscall.Conn)
	require.False(t, probed, "the connection offers its file descriptor: go-redis probes it before every command")

	require.NoError(t, r.Client.Do(ctx, "CLIENT", "KILL", "ID", strconv.FormatInt(id, 10)).Err())
	require.NoError(t, c.Set(ctx, "after-kill", "1", 0).Err(), "a command on a connection Redis closed while idle failed")
	require.Equal(t, "1", r.Client.Get(ctx, "after-kill").Val())
	again, err := c.Do(ctx, "CLIENT", "ID").Int64()
	require.NoError(t, err)
	require.NotEqual(t, id, again, "the killed connection is still in use")
}

// connHook records the connections the client dials.
type connHook struct{ seen *[]any }

func (h connHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err == nil {
			*h.seen = append(*h.seen, c)
		}
		return c, err
	}
}

func (connHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (connHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
