package ops_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/ops"
)

// TestBasicAuth checks that OPS_BASIC_AUTH guards the queue UI, its API and
// /metrics, and leaves the probes open.
func TestBasicAuth(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	url := startServer(t, ops.Options{BasicAuth: "ops:s3cret:with-colon", Redis: rdb.Client, RedisURL: rdb.URL,
		PingDB: ops.PingGorm(pg.DB), Gatherer: metrics.New().Registry})

	cases := []struct {
		path, creds string
		want        int
	}{
		{"/monitoring/", "", http.StatusUnauthorized},
		{"/monitoring/api/queues", "", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "ops:wrong", http.StatusUnauthorized},
		{"/metrics", "someone:s3cret:with-colon", http.StatusUnauthorized},
		{"/metrics", "ops:s3cret", http.StatusUnauthorized},
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
		{"/monitoring/", "ops:s3cret:with-colon", http.StatusOK},
		{"/monitoring/api/queues", "ops:s3cret:with-colon", http.StatusOK},
		{"/metrics", "ops:s3cret:with-colon", http.StatusOK},
	}
	for _, c := range cases {
		r := get(t, url+c.path, c.creds)
		require.Equal(t, c.want, r.code, "GET %s with %q: %s", c.path, c.creds, r.body)
		if c.want == http.StatusUnauthorized {
			require.Equal(t, `Basic realm="hookworker", charset="UTF-8"`, r.header.Get("WWW-Authenticate"), c.path)
			require.NotContains(t, r.body, "hookworker_", "no metrics leak through a 401")
		}
	}
	require.Contains(t, get(t, url+"/metrics", "ops:s3cret:with-colon").body, "hookworker_webhook_duration_seconds_count 0")
	require.Contains(t, get(t, url+"/monitoring/", "ops:s3cret:with-colon").body, "Asynq - Monitoring")
}

// TestOpenWithoutBasicAuth checks that without OPS_BASIC_AUTH nothing asks
// for credentials, and that a bad OPS_BASIC_AUTH is refused at construction.
func TestOpenWithoutBasicAuth(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	o := ops.Options{Redis: rdb.Client, RedisURL: rdb.URL, PingDB: ops.PingGorm(pg.DB), Gatherer: metrics.New().Registry}
	url := startServer(t, o)
	for _, p := range []string{"/", "/monitoring/", "/monitoring/api/queues", "/metrics", "/healthz", "/readyz"} {
		r := get(t, url+p, "")
		require.Equal(t, http.StatusOK, r.code, p)
		require.Empty(t, r.header.Get("WWW-Authenticate"), p)
	}
	require.Equal(t, http.StatusNotFound, get(t, url+"/nothing-here", "").code)

	o.BasicAuth, o.Log = "no-colon", zap.NewNop()
	_, err := ops.New(o)
	require.ErrorContains(t, err, "OPS_BASIC_AUTH")
}
