package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hookworker/hookworker/internal/testenv"
)

// fakeLoader is a Loader that counts its loads per installation. An
// installation in targets is found (a fresh *Target each load, with no
// events once its app is in disabled), any other is ErrNotFound; err, when
// set, is returned instead. hook, when set, runs after the row is read (to
// block the load or signal it).
type fakeLoader struct {
	mu       sync.Mutex
	targets  map[int64]int64 // installation id → app id
	disabled map[int64]bool  // app ids
	err      error
	loads    map[int64]int
	hook     func(installationID int64)
}

func newFakeLoader(targets map[int64]int64) *fakeLoader {
	return &fakeLoader{targets: targets, loads: make(map[int64]int)}
}

func (f *fakeLoader) Target(_ context.Context, installationID int64) (*Target, error) {
	f.mu.Lock()
	f.loads[installationID]++
	hook, err := f.hook, f.err
	appID, found := f.targets[installationID]
	events := []string{"issue.created"}
	if f.disabled[appID] {
		events = []string{}
	}
	f.mu.Unlock()
	if hook != nil {
		hook(installationID)
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return &Target{InstallationID: installationID, AppID: appID, AppEvents: events}, nil
}

// disable empties the events of appID's targets from the next read on.
func (f *fakeLoader) disable(appID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.disabled == nil {
		f.disabled = make(map[int64]bool)
	}
	f.disabled[appID] = true
}

// count returns how many times installationID was loaded.
func (f *fakeLoader) count(installationID int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads[installationID]
}

func (f *fakeLoader) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// fakeClock is the cache's injected clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const cacheTestTTL = 5 * time.Second

// cacheBundle is a cache on a fake loader and a fake clock.
type cacheBundle struct {
	cache  *Cache
	loader *fakeLoader
	clock  *fakeClock
}

func setupCache(t *testing.T, size int, targets map[int64]int64) *cacheBundle {
	t.Helper()
	b := &cacheBundle{loader: newFakeLoader(targets), clock: &fakeClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}}
	b.cache = NewCache(b.loader, cacheTestTTL, size)
	b.cache.now = b.clock.Now
	return b
}

// get calls Target and fails the test on an unexpected error.
func (b *cacheBundle) get(t *testing.T, installationID int64) *Target {
	t.Helper()
	got, err := b.cache.Target(context.Background(), installationID)
	require.NoError(t, err)
	require.NotNil(t, got)
	return got
}

func TestCacheHitDoesNotLoad(t *testing.T) {
	t.Parallel()
	b := setupCache(t, 10, map[int64]int64{1: 10})
	first := b.get(t, 1)
	require.Equal(t, 1, b.loader.count(1))
	for range 5 {
		require.Same(t, first, b.get(t, 1), "a hit returns the cached target itself")
	}
	require.Equal(t, 1, b.loader.count(1), "hits make no load")
}

func TestCacheEntriesExpire(t *testing.T) {
	t.Parallel()
	b := setupCache(t, 10, map[int64]int64{1: 10})
	first := b.get(t, 1)
	b.clock.advance(cacheTestTTL - time.Nanosecond)
	require.Same(t, first, b.get(t, 1), "still fresh just before the ttl")
	require.Equal(t, 1, b.loader.count(1))
	b.clock.advance(time.Nanosecond)
	second := b.get(t, 1)
	require.Equal(t, 2, b.loader.count(1), "expired at the ttl")
	require.NotSame(t, first, second)
	require.Same(t, second, b.get(t, 1), "the reloaded target is cached again")
	require.Equal(t, 2, b.loader.count(1))
}

func TestCacheNotFoundIsCached(t *testing.T) {
	t.Parallel()
	b := setupCache(t, 10, nil)
	for range 3 {
		got, err := b.cache.Target(context.Background(), 7)
		require.ErrorIs(t, err, ErrNotFound)
		require.Nil(t, got)
	}
	require.Equal(t, 1, b.loader.count(7), "not found is cached like a target")
	b.clock.advance(cacheTestTTL)
	_, err := b.cache.Target(context.Background(), 7)
	require.ErrorIs(t, err, ErrNotFound)
	require.Equal(t, 2, b.loader.count(7), "and expires like one")
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	b := setupCache(t, 10, map[int64]int64{1: 10})
	dbDown := errors.New("connection refused")
	b.loader.setErr(dbDown)
	for i := 1; i <= 3; i++ {
		got, err := b.cache.Target(context.Background(), 1)
		require.ErrorIs(t, err, dbDown)
		require.Nil(t, got)
		require.Equal(t, i, b.loader.count(1), "every call after a database error loads again")
	}
	b.loader.setErr(nil)
	first := b.get(t, 1)
	require.Same(t, first, b.get(t, 1), "once the database answers, the target is cached")
	require.Equal(t, 4, b.loader.count(1))
}

func TestCacheCollapsesConcurrentMisses(t *testing.T) {
	t.Parallel()
	const callers = 50
	b := setupCache(t, 10, map[int64]int64{1: 10})
	var started sync.WaitGroup
	started.Add(callers)
	allStarted := make(chan struct{})
	go func() { started.Wait(); close(allStarted) }()
	b.loader.hook = func(int64) {
		select { // hold the load until every caller is on its way
		case <-allStarted:
		case <-time.After(10 * time.Second):
		}
	}

	results := make([]*Target, callers)
	errs := make([]error, callers)
	var done sync.WaitGroup
	for i := range callers {
		done.Go(func() {
			started.Done()
			results[i], errs[i] = b.cache.Target(context.Background(), 1)
		})
	}
	done.Wait()
	require.Equal(t, 1, b.loader.count(1), "concurrent misses make one load")
	for i := range callers {
		require.NoError(t, errs[i])
		require.Same(t, results[0], results[i], "everyone gets the one loaded target")
	}
}

func TestCacheInvalidateAppDropsOnlyThatApp(t *testing.T) {
	t.Parallel()
	// Installations 1 and 2 belong to app 10, 3 to app 20; 4 is not found.
	b := setupCache(t, 10, map[int64]int64{1: 10, 2: 10, 3: 20})
	one, two, three := b.get(t, 1), b.get(t, 2), b.get(t, 3)
	_, err := b.cache.Target(context.Background(), 4)
	require.ErrorIs(t, err, ErrNotFound)

	b.cache.InvalidateApp(10)
	require.NotSame(t, one, b.get(t, 1))
	require.NotSame(t, two, b.get(t, 2))
	require.Equal(t, 2, b.loader.count(1), "app 10's installations are loaded again")
	require.Equal(t, 2, b.loader.count(2))
	require.Same(t, three, b.get(t, 3))
	_, err = b.cache.Target(context.Background(), 4)
	require.ErrorIs(t, err, ErrNotFound)
	require.Equal(t, 1, b.loader.count(3), "other apps stay cached")
	require.Equal(t, 1, b.loader.count(4), "not-found entries stay cached")

	b.cache.InvalidateApp(99) // an app nobody cached
	b.get(t, 1)
	require.Equal(t, 2, b.loader.count(1))
}

// blockLoads makes every load of b's loader signal entered and wait for
// the returned release function (idempotent; also called at cleanup).
func blockLoads(t *testing.T, b *cacheBundle) (entered <-chan int64, release func()) {
	t.Helper()
	ch := make(chan int64, 16)
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	b.loader.hook = func(id int64) {
		ch <- id
		<-gate
	}
	return ch, release
}

// cacheResult is what one Target call returned.
type cacheResult struct {
	t   *Target
	err error
}

// goTarget calls Target in a goroutine.
func (b *cacheBundle) goTarget(installationID int64) <-chan cacheResult {
	ch := make(chan cacheResult, 1)
	go func() {
		got, err := b.cache.Target(context.Background(), installationID)
		ch <- cacheResult{got, err}
	}()
	return ch
}

// TestCacheInvalidationOvertakesLoad checks that a load that read the row
// before the app was disabled and invalidated is not kept, and that nobody
// who shared it gets its stale target: they read the row again.
func TestCacheInvalidationOvertakesLoad(t *testing.T) {
	t.Parallel()
	b := setupCache(t, 10, map[int64]int64{1: 10})
	entered, release := blockLoads(t, b)

	first := b.goTarget(1)
	require.Equal(t, int64(1), <-entered, "the first load read the row")
	b.loader.disable(10) // the disable commits while it runs
	b.cache.InvalidateApp(10)
	second := b.goTarget(1) // arrives after the invalidation
	release()

	for _, ch := range []<-chan cacheResult{first, second} {
		r := <-ch
		require.NoError(t, r.err)
		require.Empty(t, r.t.AppEvents, "the caller got the row as it is after the disable")
	}
	cached := b.get(t, 1)
	require.Empty(t, cached.AppEvents, "the stale row was not cached")
	loads := b.loader.count(1)
	require.Same(t, cached, b.get(t, 1))
	require.Equal(t, loads, b.loader.count(1), "the fresh row is cached")
}

// TestCacheOtherInvalidationKeepsLoad checks that an invalidation of
// another app while a load runs costs nothing: the load is kept and shared.
func TestCacheOtherInvalidationKeepsLoad(t *testing.T) {
	t.Parallel()
	b := setupCache(t, 10, map[int64]int64{1: 10})
	entered, release := blockLoads(t, b)
	first := b.goTarget(1)
	require.Equal(t, int64(1), <-entered)
	b.cache.InvalidateApp(20)
	second := b.goTarget(1)
	release()
	r1, r2 := <-first, <-second
	require.NoError(t, r1.err)
	require.NoError(t, r2.err)
	require.Same(t, r1.t, b.get(t, 1), "the load was cached")
	require.LessOrEqual(t, b.loader.count(1), 2)
	if b.loader.count(1) == 1 {
		require.Same(t, r1.t, r2.t, "the second caller shared the load")
	}

	// Past the memory of recent invalidations the cache cannot tell which
	// app they concerned, and drops the load to be safe.
	b2 := setupCache(t, 10, map[int64]int64{1: 10})
	entered2, release2 := blockLoads(t, b2)
	third := b2.goTarget(1)
	require.Equal(t, int64(1), <-entered2)
	for app := int64(100); app < 100+invalidationMemory+1; app++ {
		b2.cache.InvalidateApp(app)
	}
	release2()
	r3 := <-third
	require.NoError(t, r3.err)
	require.Equal(t, 2, b2.loader.count(1), "the caller read it again")
	require.Same(t, r3.t, b2.get(t, 1), "the reread row is the one cached")
	require.Equal(t, 2, b2.loader.count(1))
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	t.Run("the fourth id evicts one", func(t *testing.T) {
		t.Parallel()
		b := setupCache(t, 3, map[int64]int64{1: 10, 2: 10, 3: 10, 4: 10})
		for id := int64(1); id <= 4; id++ {
			b.get(t, id)
		}
		require.Len(t, b.cache.entries, 3)
		require.Contains(t, b.cache.entries, int64(4), "the newest entry is kept")
		four := b.get(t, 4)
		require.Equal(t, 1, b.loader.count(4))
		require.Same(t, four, b.get(t, 4))
		kept := 0
		for id := int64(1); id <= 3; id++ {
			if _, ok := b.cache.entries[id]; ok {
				kept++
			}
		}
		require.Equal(t, 2, kept, "exactly one of the first three was evicted")
	})
	t.Run("expired entries go first", func(t *testing.T) {
		t.Parallel()
		// With nine fresh entries beside the expired one, a random eviction
		// would pick the expired one only one time in ten.
		const size = 10
		targets := make(map[int64]int64)
		for id := int64(1); id <= size+1; id++ {
			targets[id] = 10
		}
		b := setupCache(t, size, targets)
		b.get(t, 1)
		b.clock.advance(cacheTestTTL / 2)
		fresh := make(map[int64]*Target)
		for id := int64(2); id <= size; id++ {
			fresh[id] = b.get(t, id)
		}
		b.clock.advance(cacheTestTTL / 2) // 1 expires now; the others are fresh
		fresh[size+1] = b.get(t, size+1)
		require.Len(t, b.cache.entries, size)
		require.NotContains(t, b.cache.entries, int64(1), "the expired entry made room")
		for id, want := range fresh {
			require.Same(t, want, b.get(t, id))
			require.Equal(t, 1, b.loader.count(id), "installation %d stayed cached", id)
		}
	})
	t.Run("refreshing a cached id evicts nothing", func(t *testing.T) {
		t.Parallel()
		b := setupCache(t, 3, map[int64]int64{1: 10, 2: 10, 3: 10})
		for id := int64(1); id <= 3; id++ {
			b.get(t, id)
		}
		b.clock.advance(cacheTestTTL)
		b.get(t, 1) // reload of an expired entry already counted in the bound
		require.Len(t, b.cache.entries, 3)
	})
}

// randomAppID returns an app id no seeded schema uses, so invalidations
// other tests publish on the shared Redis server never match it.
func randomAppID() int64 { return 1<<40 + rand.Int64N(1<<40) }

// listeningCache is a cache whose Listen runs until the test ends.
type listeningCache struct {
	cache  *Cache
	loader *fakeLoader
	done   chan struct{}
	cancel context.CancelFunc
}

func startListening(t *testing.T, rdb *testenv.Redis, log *zap.Logger, targets map[int64]int64) *listeningCache {
	t.Helper()
	l := &listeningCache{loader: newFakeLoader(targets), done: make(chan struct{})}
	l.cache = NewCache(l.loader, time.Hour, 100)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		l.cache.Listen(ctx, rdb.Client, log, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

func (l *listeningCache) get(t *testing.T, installationID int64) {
	t.Helper()
	_, err := l.cache.Target(context.Background(), installationID)
	require.NoError(t, err)
}

// forgot reports whether the cache had forgotten installationID: it calls
// Target and tells whether that loaded. It may run in require.Eventually's
// goroutine, so it reports errors without stopping the test.
func (l *listeningCache) forgot(t *testing.T, installationID int64) bool {
	before := l.loader.count(installationID)
	_, err := l.cache.Target(context.Background(), installationID)
	return assert.NoError(t, err) && l.loader.count(installationID) > before
}

func TestCacheListenAppliesPublishedInvalidations(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	core, logs := observer.New(zapcore.WarnLevel)
	log := zap.New(core)
	app, other, probe := randomAppID(), randomAppID(), randomAppID()
	// Installation 1 belongs to app, 2 to another app, 3 to the probe app.
	targets := map[int64]int64{1: app, 2: other, 3: probe}
	caches := []*listeningCache{startListening(t, rdb, log, targets), startListening(t, rdb, log, targets)}
	ctx := context.Background()

	// Wait until both listeners are subscribed: publish the probe app until
	// both caches have forgotten it once.
	for _, l := range caches {
		l.get(t, 3)
		require.Eventually(t, func() bool {
			return assert.NoError(t, PublishInvalidation(ctx, rdb.Client, probe)) && l.forgot(t, 3)
		}, 10*time.Second, 10*time.Millisecond, "the listener never subscribed")
	}

	for _, l := range caches {
		l.get(t, 1)
		l.get(t, 2)
		require.Equal(t, 1, l.loader.count(1))
	}
	// A malformed payload first: it is logged and skipped, and the listener
	// goes on to the invalidation published after it.
	garbage := "not-an-app-id-" + strconv.FormatInt(randomAppID(), 10)
	require.NoError(t, rdb.Client.Publish(ctx, InvalidateChannel, garbage).Err())
	require.NoError(t, PublishInvalidation(ctx, rdb.Client, app))
	for i, l := range caches {
		require.Eventually(t, func() bool { return l.forgot(t, 1) }, 10*time.Second, 10*time.Millisecond,
			"cache %d never forgot the app", i)
		require.Equal(t, 2, l.loader.count(1), "one publish, one reload")
		require.False(t, l.forgot(t, 2), "cache %d forgot an app nobody invalidated", i)
	}
	bad := logs.FilterMessage("cache.bad_invalidation").FilterField(zap.String("payload", garbage))
	require.Equal(t, len(caches), bad.Len(), "each listener logged the malformed payload")
}

func TestCacheListenStopsWithContext(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	l := startListening(t, rdb, zap.NewNop(), nil)
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return after its context was cancelled")
	}
}
