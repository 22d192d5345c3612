package ops_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/ops"
)

// TestReadyzFollowsRedisAndDatabase stops a real redis-server, then cuts the
// database off (a TCP proxy in front of PostgreSQL that drops every
// connection), and checks that /readyz says 503 with the reason while each
// is gone and 200 again once it is back; /healthz stays 200 throughout.
func TestReadyzFollowsRedisAndDatabase(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.addr})
	t.Cleanup(func() { rdb.Close() })

	base := testenv.DatabaseBaseURL()
	proxy := startProxy(t, target(t, base))
	db, err := gorm.Open(postgres.Open(viaProxy(t, base, proxy.addr)), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})

	url := startServer(t, ops.Options{Redis: rdb, RedisURL: "redis://" + rs.addr + "/0", PingDB: ops.PingGorm(db), Gatherer: prometheus.NewRegistry(),
		ReadyTimeout: 2 * time.Second})
	readyIs := func(code int, reason string) {
		t.Helper()
		var last reply
		if !assert.Eventually(t, func() bool {
			last = get(t, url+"/readyz", "")
			return last.code == code
		}, 20*time.Second, 20*time.Millisecond) {
			t.Fatalf("want /readyz %d, last answer %d %q", code, last.code, last.body)
		}
		require.Contains(t, last.body, reason)
		require.Equal(t, http.StatusOK, get(t, url+"/healthz", "").code, "/healthz must not depend on Redis or the database")
	}

	readyIs(http.StatusOK, "ok")

	rs.stop()
	readyIs(http.StatusServiceUnavailable, "redis: ")
	rs.start()
	readyIs(http.StatusOK, "ok")

	proxy.stop()
	readyIs(http.StatusServiceUnavailable, "database: ")
	last := get(t, url+"/readyz", "")
	require.NotContains(t, last.body, "redis: ", "only the database is down")
	proxy.start()
	readyIs(http.StatusOK, "ok")
}
