package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/ops"
)

// TestWorkerRefusesOpenOperatorServer checks that `worker` on a non-loopback
// HTTP_ADDR without OPS_BASIC_AUTH stops at once with a message naming both
// ways out, before it connects to anything (the Redis URL points nowhere).
func TestWorkerRefusesOpenOperatorServer(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HTTP_ADDR": "0.0.0.0:0", "REDIS_URL": "redis://127.0.0.1:1/0", "LOG_LEVEL": "error"}
	err := run(nil, envGetter(env), io.Discard)
	require.ErrorIs(t, err, ops.ErrExposed)
	require.ErrorContains(t, err, "OPS_BASIC_AUTH=user:pass")
	require.ErrorContains(t, err, "OPS_INSECURE=true")
}
