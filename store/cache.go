package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// InvalidateChannel is the Redis pub/sub channel on which a worker that
// disables an app tells every other worker to forget it.
const InvalidateChannel = "hookworker:invalidate-app"

// Loader loads a delivery target; *Store implements it.
type Loader interface {
	Target(ctx context.Context, installationID int64) (*Target, error)
}

// Cache keeps recently loaded targets for a short TTL, so a busy
// installation costs no SQL in steady state. It is bounded, collapses
// concurrent misses for one installation into one query, caches "not found"
// too, and forgets an app at once when it is disabled (here or, through
// Redis pub/sub, in another worker).
type Cache struct {
	next  Loader
	ttl   time.Duration
	max   int
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	entries map[int64]cacheEntry
}

type cacheEntry struct {
	target  *Target
	err     error
	expires time.Time
}

// NewCache wraps next with a cache of at most max entries living ttl.
func NewCache(next Loader, ttl time.Duration, max int) *Cache {
	if max <= 0 {
		max = 10000
	}
	return &Cache{next: next, ttl: ttl, max: max, now: time.Now, entries: make(map[int64]cacheEntry)}
}

// Target returns the cached target of installationID, loading it on a miss.
// Callers must not modify the returned Target.
func (c *Cache) Target(ctx context.Context, installationID int64) (*Target, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[installationID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.target, e.err
	}
	v, err, _ := c.group.Do(strconv.FormatInt(installationID, 10), func() (any, error) {
		t, err := c.next.Target(ctx, installationID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err // database trouble is not cached
		}
		c.put(installationID, cacheEntry{target: t, err: err, expires: c.now().Add(c.ttl)})
		return t, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*Target), nil
}

func (c *Cache) put(id int64, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		now := c.now()
		evicted := false
		for k, old := range c.entries { // drop expired entries first, else any one
			if now.After(old.expires) {
				delete(c.entries, k)
				evicted = true
			}
		}
		if !evicted {
			for k := range c.entries {
				delete(c.entries, k)
				break
			}
		}
	}
	c.entries[id] = e
}

// InvalidateApp forgets every cached target of appID in this process.
func (c *Cache) InvalidateApp(appID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.target != nil && e.target.AppID == appID {
			delete(c.entries, k)
		}
	}
}

// Listen applies invalidations published on InvalidateChannel until ctx
// ends. Run it in a goroutine; it resubscribes when the connection drops.
func (c *Cache) Listen(ctx context.Context, rdb redis.UniversalClient, log *zap.Logger) {
	sub := rdb.Subscribe(ctx, InvalidateChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			id, err := strconv.ParseInt(msg.Payload, 10, 64)
			if err != nil {
				log.Warn("cache.bad_invalidation", zap.String("payload", msg.Payload))
				continue
			}
			c.InvalidateApp(id)
		}
	}
}

// PublishInvalidation tells every worker's cache to forget appID.
func PublishInvalidation(ctx context.Context, rdb redis.Cmdable, appID int64) error {
	return rdb.Publish(ctx, InvalidateChannel, strconv.FormatInt(appID, 10)).Err()
}
