package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// Loader loads a delivery target; *Store and *Cache implement it.
type Loader interface {
	Target(ctx context.Context, installationID int64) (*Target, error)
}

// BatchLoader loads the targets of many installations at once; *Store
// implements it. An installation that is not usable is absent from the map;
// an error means none was loaded.
type BatchLoader interface {
	Targets(ctx context.Context, installationIDs []int64) (map[int64]*Target, error)
}

var _ BatchLoader = (*Store)(nil) // so NewCache(New(db), ...) batches

// Cache keeps recently loaded targets for a short TTL, so a busy
// installation costs no SQL in steady state. It is bounded, collapses
// concurrent misses for one installation into one query, caches "not found"
// too, and forgets an app at once when it is disabled (here or, through
// Redis pub/sub, in another worker).
//
// When the loader is also a BatchLoader, misses for different installations
// are coalesced too: at most maxBatchesInFlight batch loads run at once, and
// the ids that miss meanwhile wait for the next one, so a cold start with
// many installations costs a few queries on a few connections rather than
// one query and one connection each.
type Cache struct {
	next  Loader
	batch BatchLoader // nil: misses load one by one through group
	ttl   time.Duration
	max   int
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	entries map[int64]cacheEntry
	// gen counts invalidations; recent[g%len(recent)] is the app of
	// invalidation g. A load overtaken by an invalidation of its app may
	// have read the row before the disable committed: it is not stored,
	// and the callers that shared it load again.
	gen    uint64
	recent [invalidationMemory]int64
	// calls holds the batch call of every id pending or being loaded, so
	// an id is loaded by one batch at a time; pending lists those not yet
	// in a batch, in order of arrival; inflight counts running batches;
	// gathering is set while the newest batch has started but not yet
	// taken the pending ids (it takes every id that misses until then).
	calls     map[int64]*batchCall
	pending   []int64
	inflight  int
	gathering bool
}

// maxBatchesInFlight is how many batch loads may run at once: one batch
// takes every id pending when it starts, so two keep the database busy
// while the misses of a burst gather for the next, on at most two
// connections.
const maxBatchesInFlight = 2

// maxBatchSize is the most ids one batch query asks for; more pending ids
// make more batches.
const maxBatchSize = 500

// batchTimeout bounds a batch's query. A batch serves many callers, so it
// does not end with the first caller's context (whose values it keeps):
// each caller stops waiting at its own deadline while the batch goes on for
// the others, and this bound keeps a stuck query from holding the ids
// forever.
const batchTimeout = 10 * time.Second

// batchCall is the pending or running load of one id in a batch. res is
// set before done is closed.
type batchCall struct {
	ctx  context.Context // of the caller that missed first
	done chan struct{}
	res  loaded
}

// invalidationMemory is how many recent invalidations the cache remembers
// to tell whether one concerned a load in flight; past it, it assumes so.
const invalidationMemory = 64

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
	c := &Cache{next: next, ttl: ttl, max: max, now: time.Now, entries: make(map[int64]cacheEntry)}
	if b, ok := next.(BatchLoader); ok {
		c.batch = b
		c.calls = make(map[int64]*batchCall)
	}
	return c
}

// Target returns the cached target of installationID, loading it on a miss.
// Callers must not modify the returned Target. When misses are batched, a
// caller whose ctx ends stops waiting with ctx's error (wrapped) while the
// batch goes on for the others.
func (c *Cache) Target(ctx context.Context, installationID int64) (*Target, error) {
	if e, ok, _ := c.lookup(installationID); ok {
		return e.target, e.err
	}
	if c.batch != nil {
		return c.batchTarget(ctx, installationID)
	}
	v, _, _ := c.group.Do(strconv.FormatInt(installationID, 10), func() (any, error) {
		return c.load(ctx, installationID), nil
	})
	r := v.(loaded)
	if r.entry.target != nil && c.invalidatedSince(r.entry.target.AppID, r.gen) {
		// The app was disabled while the shared load ran, which may have
		// read it before: read it again.
		r = c.load(ctx, installationID)
	}
	return r.entry.target, r.entry.err
}

// batchTarget loads installationID in a batch, and again if its app was
// invalidated while the batch ran.
func (c *Cache) batchTarget(ctx context.Context, installationID int64) (*Target, error) {
	r, err := c.batchLoad(ctx, installationID)
	if err != nil {
		return nil, err
	}
	if r.entry.target != nil && c.invalidatedSince(r.entry.target.AppID, r.gen) {
		// The app was disabled while the batch ran, which may have read it
		// before: read it again (the batch did not store it).
		if r, err = c.batchLoad(ctx, installationID); err != nil {
			return nil, err
		}
	}
	return r.entry.target, r.entry.err
}

// batchLoad waits for the batch load of installationID, joining the one
// pending or running for it or adding the id to the next. It returns early
// with ctx's error; the batch goes on.
func (c *Cache) batchLoad(ctx context.Context, installationID int64) (loaded, error) {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.entries[installationID]; ok && now.Before(e.expires) {
		// a batch that just ended stored it after the caller's lookup
		gen := c.gen
		c.mu.Unlock()
		return loaded{e, gen}, nil
	}
	call, ok := c.calls[installationID]
	if !ok {
		call = &batchCall{ctx: ctx, done: make(chan struct{})}
		c.calls[installationID] = call
		c.pending = append(c.pending, installationID)
		c.startBatchesLocked()
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.res, nil
	case <-ctx.Done():
		return loaded{}, fmt.Errorf("wait for installation %d: %w", installationID, ctx.Err())
	}
}

// startBatchesLocked starts a batch when ids are pending, fewer than
// maxBatchesInFlight batches run and none is still gathering ids. c.mu is
// held.
func (c *Cache) startBatchesLocked() {
	if c.inflight < maxBatchesInFlight && len(c.pending) > 0 && !c.gathering {
		c.inflight++
		c.gathering = true
		go c.runBatch()
	}
}

// runBatch takes up to maxBatchSize pending ids (every id that missed since
// it was started, when a burst is smaller), starts another batch if some
// remain, and loads them.
func (c *Cache) runBatch() {
	c.mu.Lock()
	c.gathering = false
	n := min(len(c.pending), maxBatchSize)
	ids := slices.Clone(c.pending[:n])
	c.pending = slices.Delete(c.pending, 0, n)
	if len(c.pending) == 0 {
		c.pending = nil // let a burst's backing array go
	}
	gen := c.gen
	if n == 0 { // cannot happen: only a gathering batch takes ids
		c.inflight--
		c.mu.Unlock()
		return
	}
	ctx := c.calls[ids[0]].ctx
	c.startBatchesLocked()
	c.mu.Unlock()
	c.loadBatch(ctx, ids, gen)
}

// loadBatch loads ids, taken at invalidation generation gen, caches what
// it may (targets and not-found, unless their app was invalidated since;
// never a database error), hands every waiting caller its result, and
// starts the next batch.
func (c *Cache) loadBatch(ctx context.Context, ids []int64, gen uint64) {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	targets, err := c.batch.Targets(qctx, ids)
	cancel()
	expires := c.now().Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		var e cacheEntry
		switch t, found := targets[id]; {
		case err != nil:
			e = cacheEntry{err: err} // database trouble is not cached
		case found:
			e = cacheEntry{target: t, expires: expires}
			c.putLocked(id, gen, e)
		default:
			e = cacheEntry{err: ErrNotFound, expires: expires}
			c.putLocked(id, gen, e)
		}
		call := c.calls[id]
		delete(c.calls, id)
		call.res = loaded{e, gen}
		close(call.done)
	}
	c.inflight--
	c.startBatchesLocked()
}

// loaded is the result of a load and the invalidation generation it
// started at.
type loaded struct {
	entry cacheEntry
	gen   uint64
}

// load reads installationID through next and caches the result, unless it
// is a database error or its app was invalidated meanwhile.
func (c *Cache) load(ctx context.Context, installationID int64) loaded {
	e, ok, gen := c.lookup(installationID)
	if ok { // a flight that just ended stored it after the caller's lookup
		return loaded{e, gen}
	}
	t, err := c.next.Target(ctx, installationID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return loaded{cacheEntry{err: err}, gen} // database trouble is not cached
	}
	e = cacheEntry{target: t, err: err, expires: c.now().Add(c.ttl)}
	c.put(installationID, gen, e)
	return loaded{e, gen}
}

// lookup returns the live entry of id (ok false on a miss or an expired
// entry) and the current invalidation generation.
func (c *Cache) lookup(id int64) (e cacheEntry, ok bool, gen uint64) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[id]
	if found && now.Before(e.expires) {
		return e, true, c.gen
	}
	return cacheEntry{}, false, c.gen
}

// invalidatedSince reports whether appID was invalidated after generation
// gen (or too many invalidations happened since to tell).
func (c *Cache) invalidatedSince(appID int64, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invalidatedSinceLocked(appID, gen)
}

func (c *Cache) invalidatedSinceLocked(appID int64, gen uint64) bool {
	if c.gen-gen > invalidationMemory {
		return true
	}
	for g := gen + 1; g <= c.gen; g++ {
		if c.recent[g%invalidationMemory] == appID {
			return true
		}
	}
	return false
}

// put stores e, loaded from generation gen, unless its app was invalidated
// since.
func (c *Cache) put(id int64, gen uint64, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(id, gen, e)
}

// putLocked is put with c.mu held.
func (c *Cache) putLocked(id int64, gen uint64, e cacheEntry) {
	if e.target != nil && c.invalidatedSinceLocked(e.target.AppID, gen) {
		return
	}
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		now := c.now()
		evicted := false
		for k, old := range c.entries { // drop expired entries first, else any one
			if !now.Before(old.expires) {
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
	c.gen++
	c.recent[c.gen%invalidationMemory] = appID
	for k, e := range c.entries {
		if e.target != nil && e.target.AppID == appID {
			delete(c.entries, k)
		}
	}
}

// Listen subscribes to InvalidateChannel and applies what arrives until ctx
// ends; run it in a goroutine. ready (nil allowed) is closed once Redis has
// confirmed the subscription, so a worker can start only when it cannot
// miss an invalidation. Every time the subscription is (re)established the
// whole cache is dropped: what was published while it was down is unknown.
func (c *Cache) Listen(ctx context.Context, rdb redis.UniversalClient, log *zap.Logger, ready chan<- struct{}) {
	sub := rdb.Subscribe(ctx, InvalidateChannel)
	defer sub.Close()
	// Receive blocks in a read that ctx does not interrupt; closing the
	// subscription does.
	stop := context.AfterFunc(ctx, func() { sub.Close() })
	defer stop()
	for {
		msg, err := sub.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("cache.subscription_error", zap.Error(err))
			select { // go-redis reconnects on the next Receive
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.invalidateAll()
				if ready != nil {
					close(ready)
					ready = nil
				}
			}
		case *redis.Message:
			id, err := strconv.ParseInt(m.Payload, 10, 64)
			if err != nil {
				log.Warn("cache.bad_invalidation", zap.String("payload", m.Payload))
				continue
			}
			c.InvalidateApp(id)
		}
	}
}

// invalidateAll forgets every entry, and every load under way.
func (c *Cache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen += invalidationMemory + 1 // loads under way see more than they can check: discarded
	clear(c.entries)
}

// PublishInvalidation tells every worker's cache to forget appID.
func PublishInvalidation(ctx context.Context, rdb redis.Cmdable, appID int64) error {
	return rdb.Publish(ctx, InvalidateChannel, strconv.FormatInt(appID, 10)).Err()
}
