package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProbeAddr(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		"0.0.0.0:8080":   "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"[::]:8080":      "[::1]:8080",
		"127.0.0.1:9000": "127.0.0.1:9000",
		"10.1.2.3:8080":  "10.1.2.3:8080",
		"[::1]:8080":     "[::1]:8080",
	} {
		require.Equal(t, want, probeAddr(listen), listen)
	}
}

func TestHealthcheckOff(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HTTP_ADDR": "off"}
	require.ErrorContains(t, run([]string{"healthcheck"}, func(k string) string { return env[k] }, nil), "HTTP_ADDR is off")
}
