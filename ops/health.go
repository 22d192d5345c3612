package ops

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gorm.io/gorm"
)

// PingGorm returns a readiness check for db: a ping through its pool. A
// pooled connection the database dropped answers driver.ErrBadConn and is
// discarded; the check then pings once more on a fresh connection, which
// either works or says why (refused, timed out, authentication failed).
func PingGorm(db *gorm.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		sqlDB, err := db.DB()
		if err != nil {
			return fmt.Errorf("database handle: %w", err)
		}
		err = sqlDB.PingContext(ctx)
		if errors.Is(err, driver.ErrBadConn) {
			err = sqlDB.PingContext(ctx)
		}
		return err
	}
}

// healthz is the liveness probe: answering at all is the answer.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// pingRedis pings the worker's Redis: on a cluster every master (a master
// down makes its slots' queues and keys unreachable), else the one node, or
// the master Sentinel currently names.
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			if err := n.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("cluster node %s: %w", n.Options().Addr, err)
			}
			return nil
		})
	}
	return rdb.Ping(ctx).Err()
}

// readyz is the readiness probe: 200 when Redis and the database both answer
// within ReadyTimeout, else 503 naming what failed. Checks run concurrently,
// so a probe takes at most one timeout.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := []struct {
		name string
		ping func(context.Context) error
	}{
		{"redis", func(ctx context.Context) error { return pingRedis(ctx, s.opts.Redis) }},
		{"database", s.opts.PingDB},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
			defer cancel()
			errs[i] = c.ping(ctx)
		})
	}
	wg.Wait()

	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", checks[i].name, err))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		if s.ready.Swap(false) {
			s.opts.Log.Warn("ops.not_ready", zap.Strings("failed", failed))
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(failed, "\n"))
		return
	}
	if !s.ready.Swap(true) {
		s.opts.Log.Info("ops.ready_again")
	}
	fmt.Fprintln(w, "ok")
}
