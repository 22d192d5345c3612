// Package embedded runs the in-process Redis that `worker` uses when
// REDIS_URL is unset, so a first run needs nothing installed. It keeps queue
// data in memory only.
package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Redis is an in-process Redis server listening on a TCP address, so that
// `enqueue` and the queue UI can reach it too.
type Redis struct {
	srv    *miniredis.Miniredis
	cancel context.CancelFunc
	done   chan struct{}
}

// StartRedis listens on addr. miniredis expires keys only when its clock
// moves, so a goroutine advances it with the wall clock every tick (TTLs of
// unique locks, leases, the request log and the breaker then behave).
func StartRedis(addr string, tick time.Duration) (*Redis, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded Redis on %s (set REDIS_URL to use another Redis, or EMBEDDED_REDIS_ADDR to move it): %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{srv: srv, cancel: cancel, done: make(chan struct{})}
	go r.driveClock(ctx, tick)
	return r, nil
}

func (r *Redis) driveClock(ctx context.Context, tick time.Duration) {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.srv.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr returns host:port.
func (r *Redis) Addr() string { return r.srv.Addr() }

// URL returns the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.srv.Addr() + "/0" }

// Close stops the server; its data is gone.
func (r *Redis) Close() {
	r.cancel()
	<-r.done
	r.srv.Close()
}
