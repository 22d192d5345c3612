// Package embedded runs the in-process Redis that `worker` uses when
// REDIS_URL is unset, so a first run needs nothing installed. It keeps queue
// data in memory only.
package embedded

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Redis is an in-process Redis server listening on a TCP address, so that
// `enqueue` and the queue UI can reach it too.
type Redis struct {
	srv    *miniredis.Miniredis
	cancel context.CancelFunc
	done   chan struct{}
	// addrFile is the file Advertise wrote, removed by Close.
	addrFile string
}

// MarkerKey is set in database 0 of the embedded Redis, so that a command
// looking for the worker's embedded Redis can tell it from another Redis
// listening on the same address.
const MarkerKey = "hookworker:embedded"

// AddrFile is the file, in the worker's working directory (beside the
// embedded SQLite file), that holds the embedded Redis's address while the
// worker runs: `enqueue` started in the same directory finds the worker's
// Redis there even when EMBEDDED_REDIS_ADDR was set for the worker only.
const AddrFile = "hookworker-redis.addr"

// StartRedis listens on addr. miniredis expires keys only when its clock
// moves, so a goroutine advances it with the wall clock every tick (TTLs of
// unique locks, leases, the request log and the breaker then behave).
func StartRedis(addr string, tick time.Duration) (*Redis, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded Redis on %s (set REDIS_URL to use another Redis, or EMBEDDED_REDIS_ADDR to move it): %w", addr, err)
	}
	if err := srv.Set(MarkerKey, "1"); err != nil {
		srv.Close()
		return nil, fmt.Errorf("start embedded Redis: %w", err)
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

// Advertise writes the server's address to path (AddrFile), for commands
// started in the same directory; Close removes it.
func (r *Redis) Advertise(path string) error {
	if err := os.WriteFile(path, []byte(r.Addr()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write the embedded Redis's address: %w", err)
	}
	r.addrFile = path
	return nil
}

// Close stops the server; its data is gone.
func (r *Redis) Close() {
	r.cancel()
	<-r.done
	r.srv.Close()
	if r.addrFile != "" {
		os.Remove(r.addrFile) //nolint:errcheck // best effort: a stale file only names a dead address
	}
}
