package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/models"
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

// countingStore is the real *Store with its loads counted. before and
// after, when set, run around the query of batch call n (from 1); an error
// after returns replaces the call's result (the rows were read).
type countingStore struct {
	*Store
	mu          sync.Mutex
	batches     [][]int64
	inflight    int
	maxInflight int
	singles     int
	before      func(n int)
	after       func(n int) error
}

func (s *countingStore) Target(ctx context.Context, installationID int64) (*Target, error) {
	s.mu.Lock()
	s.singles++
	s.mu.Unlock()
	return s.Store.Target(ctx, installationID)
}

func (s *countingStore) Targets(ctx context.Context, ids []int64) (map[int64]*Target, error) {
	s.mu.Lock()
	s.batches = append(s.batches, slices.Clone(ids))
	n := len(s.batches)
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	before, after := s.before, s.after
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	if before != nil {
		before(n)
	}
	got, err := s.Store.Targets(ctx, ids)
	if after != nil {
		if aerr := after(n); aerr != nil {
			return nil, aerr
		}
	}
	return got, err
}

// stats returns copies of what s counted.
func (s *countingStore) stats() (batches [][]int64, maxInflight, singles int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches), s.maxInflight, s.singles
}

// batchBundle is a cache on a counting real Store with seeded
// installations.
type batchBundle struct {
	db      *gorm.DB
	store   *countingStore
	cache   *Cache
	seeds   []models.SeedResult
	queries *atomic.Int64 // queries of the target SQL
}

func setupBatch(t testing.TB, installations int) *batchBundle {
	t.Helper()
	db := testenv.NewPostgres(t).DB
	require.NoError(t, models.Migrate(db))
	b := &batchBundle{db: db, store: &countingStore{Store: New(db)}, queries: new(atomic.Int64)}
	require.NoError(t, db.Callback().Row().After("gorm:row").Register("test:count_target_queries", func(tx *gorm.DB) {
		if strings.Contains(tx.Statement.SQL.String(), "FROM sentry_app_installations") {
			b.queries.Add(1)
		}
	}))
	for i := range installations {
		s, err := models.Seed(db, models.SeedOptions{WebhookURL: "https://example.com/" + strconv.Itoa(i),
			Name: "Batch App " + strconv.Itoa(i), Events: []string{"issue.created"}, ProjectIDs: []int64{int64(i % 3)}[:i%2]})
		require.NoError(t, err)
		b.seeds = append(b.seeds, s)
	}
	b.cache = NewCache(b.store, time.Hour, 10000)
	require.NotNil(t, b.cache.batch, "*Store is a BatchLoader")
	return b
}

// goTarget calls Target in a goroutine.
func (b *batchBundle) goTarget(ctx context.Context, installationID int64) <-chan cacheResult {
	ch := make(chan cacheResult, 1)
	go func() {
		got, err := b.cache.Target(ctx, installationID)
		ch <- cacheResult{got, err}
	}()
	return ch
}

// waiting returns how many ids are pending or being loaded in batches.
func (c *Cache) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// waitFor waits until n ids are pending or being loaded.
func (b *batchBundle) waitFor(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return b.cache.waiting() == n }, 10*time.Second, time.Millisecond,
		"the callers never all missed")
}

// gate returns a hook that signals entered with the call number and waits
// for release (idempotent; also called at cleanup) for the calls in held.
func gate(t *testing.T, held ...int) (hook func(n int), entered <-chan int, release func()) {
	t.Helper()
	ch := make(chan int, len(held))
	g := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(g) }) }
	t.Cleanup(release)
	return func(n int) {
		if slices.Contains(held, n) {
			ch <- n
			<-g
		}
	}, ch, release
}

// requireOnce checks that every id was in exactly one batch.
func requireOnce(t *testing.T, batches [][]int64, ids []int64) {
	t.Helper()
	seen := make(map[int64]int)
	for _, batch := range batches {
		for _, id := range batch {
			seen[id]++
		}
	}
	for _, id := range ids {
		require.Equal(t, 1, seen[id], "installation %d loaded once", id)
	}
	require.Len(t, seen, len(ids), "no other id was loaded")
}

func TestCacheBatchesConcurrentMisses(t *testing.T) {
	t.Parallel()
	const installations = 50
	b := setupBatch(t, installations)
	missing := b.seeds[installations-1].InstallationID + 1000
	var ids []int64
	for _, s := range b.seeds {
		ids = append(ids, s.InstallationID)
	}
	ids = append(ids, missing)

	// The first two misses each start a batch at once; hold those until
	// every other caller (two per id) has missed: they all share the next.
	hook, entered, release := gate(t, 1, 2)
	b.store.after = func(n int) error { hook(n); return nil }
	results := make(map[int64][]<-chan cacheResult)
	for _, id := range ids {
		results[id] = append(results[id], b.goTarget(context.Background(), id))
		if len(results) <= 2 {
			<-entered // this id's batch is running
		}
	}
	for _, id := range ids {
		results[id] = append(results[id], b.goTarget(context.Background(), id))
	}
	b.waitFor(t, len(ids))
	release()

	want := make(map[int64]*Target)
	for _, id := range ids {
		for _, ch := range results[id] {
			r := <-ch
			if id == missing {
				require.ErrorIs(t, r.err, ErrNotFound)
				require.Nil(t, r.t)
				continue
			}
			require.NoError(t, r.err)
			require.Equal(t, id, r.t.InstallationID)
			if want[id] == nil {
				want[id] = r.t
			}
			require.Same(t, want[id], r.t, "both callers of %d share one load", id)
		}
	}
	batches, maxInflight, singles := b.store.stats()
	require.Len(t, batches, 3, "two batches started at once, everyone else shared the third")
	require.Len(t, batches[2], len(ids)-2)
	require.LessOrEqual(t, maxInflight, maxBatchesInFlight)
	require.Zero(t, singles, "no installation was loaded on its own")
	require.Equal(t, int64(len(batches)), b.queries.Load(), "one target query per batch")
	requireOnce(t, batches, ids)
	for _, s := range b.seeds {
		direct, err := b.store.Store.Target(context.Background(), s.InstallationID)
		require.NoError(t, err)
		require.Equal(t, direct, want[s.InstallationID], "installation %d", s.InstallationID)
	}

	// Everything is cached now, "not found" too.
	for _, id := range ids {
		got, err := b.cache.Target(context.Background(), id)
		if id == missing {
			require.ErrorIs(t, err, ErrNotFound)
		} else {
			require.Same(t, want[id], got)
		}
	}
	batches, _, _ = b.store.stats()
	require.Len(t, batches, 3, "hits make no load")
}

// TestCacheBatchesFreeBurst lets 50 cold misses run with nothing held, as a
// worker's start does: few batches, never more than two at once, each id
// loaded once, and everyone gets their own target.
func TestCacheBatchesFreeBurst(t *testing.T) {
	t.Parallel()
	const installations = 50
	b := setupBatch(t, installations)
	start := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]*Target, installations)
	errs := make([]error, installations)
	for i, s := range b.seeds {
		wg.Go(func() {
			<-start
			got[i], errs[i] = b.cache.Target(context.Background(), s.InstallationID)
		})
	}
	close(start)
	wg.Wait()
	var ids []int64
	for i, s := range b.seeds {
		require.NoError(t, errs[i])
		require.Equal(t, s.InstallationID, got[i].InstallationID)
		require.Equal(t, s.SentryAppID, got[i].AppID)
		ids = append(ids, s.InstallationID)
	}
	batches, maxInflight, singles := b.store.stats()
	t.Logf("%d cold misses: %d batches %v", installations, len(batches), batchSizes(batches))
	require.LessOrEqual(t, maxInflight, maxBatchesInFlight)
	require.Zero(t, singles)
	require.Equal(t, int64(len(batches)), b.queries.Load(), "one target query per batch")
	requireOnce(t, batches, ids)
}

func batchSizes(batches [][]int64) []int {
	sizes := make([]int, len(batches))
	for i, batch := range batches {
		sizes[i] = len(batch)
	}
	return sizes
}

// TestCacheBatchSize checks that more than maxBatchSize pending ids make
// several batches, still at most two at once.
func TestCacheBatchSize(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, 0)
	hook, entered, release := gate(t, 1, 2)
	b.store.before = hook
	const ids = 2*maxBatchSize + 3 // none exists: all not found
	var results []<-chan cacheResult
	for id := int64(1); id <= ids; id++ {
		results = append(results, b.goTarget(context.Background(), id))
		if id <= 2 {
			<-entered
		}
	}
	b.waitFor(t, ids)
	release()
	for _, ch := range results {
		require.ErrorIs(t, (<-ch).err, ErrNotFound)
	}
	batches, maxInflight, _ := b.store.stats()
	require.Equal(t, []int{1, 1, maxBatchSize, maxBatchSize, 1}, batchSizes(batches))
	require.LessOrEqual(t, maxInflight, maxBatchesInFlight)
	all := make([]int64, ids)
	for i := range all {
		all[i] = int64(i + 1)
	}
	requireOnce(t, batches, all)
}

// TestCacheBatchErrorReachesEveryCaller checks that a database error of a
// batch is returned to every caller waiting on it and not cached.
func TestCacheBatchErrorReachesEveryCaller(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, 10)
	dbDown := errors.New("connection refused")
	hook, entered, release := gate(t, 1, 2)
	b.store.after = func(n int) error {
		hook(n)
		if n == 3 {
			return dbDown
		}
		return nil
	}
	// Two held batches for the first two ids; the other eight (two callers
	// each) wait together for the third, which fails.
	first := []<-chan cacheResult{
		b.goTarget(context.Background(), b.seeds[0].InstallationID),
	}
	<-entered
	first = append(first, b.goTarget(context.Background(), b.seeds[1].InstallationID))
	<-entered
	var failing []<-chan cacheResult
	for _, s := range b.seeds[2:] {
		failing = append(failing, b.goTarget(context.Background(), s.InstallationID), b.goTarget(context.Background(), s.InstallationID))
	}
	b.waitFor(t, len(b.seeds))
	release()
	for _, ch := range failing {
		r := <-ch
		require.ErrorIs(t, r.err, dbDown)
		require.Nil(t, r.t)
	}
	for _, ch := range first {
		require.NoError(t, (<-ch).err, "the other batches were fine")
	}
	batches, _, _ := b.store.stats()
	require.Len(t, batches, 3)

	for _, s := range b.seeds[2:] {
		got, err := b.cache.Target(context.Background(), s.InstallationID)
		require.NoError(t, err, "the error was not cached: loaded again")
		require.Equal(t, s.InstallationID, got.InstallationID)
	}
	batches, _, _ = b.store.stats()
	require.Len(t, batches, 3+8, "each failed id was loaded again")
	for _, s := range b.seeds[:2] {
		_, err := b.cache.Target(context.Background(), s.InstallationID)
		require.NoError(t, err)
	}
	batches, _, _ = b.store.stats()
	require.Len(t, batches, 3+8, "the good batches were cached")
}

// TestCacheBatchCallerGivesUp checks that a caller whose context ends stops
// waiting at once, while the batch it started runs on for the others.
func TestCacheBatchCallerGivesUp(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, 1)
	id := b.seeds[0].InstallationID
	hook, entered, release := gate(t, 1)
	b.store.before = hook // held before its query
	ctx, cancel := context.WithCancel(context.Background())
	quitter := b.goTarget(ctx, id) // starts the batch, on its context
	<-entered
	patient := b.goTarget(context.Background(), id)
	b.waitFor(t, 1)
	cancel()
	select {
	case r := <-quitter:
		require.ErrorIs(t, r.err, context.Canceled)
		require.Nil(t, r.t)
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled caller waited for the batch")
	}
	release() // the query runs after its first caller's context ended
	r := <-patient
	require.NoError(t, r.err)
	require.Equal(t, id, r.t.InstallationID)
	got, err := b.cache.Target(context.Background(), id)
	require.NoError(t, err)
	require.Same(t, r.t, got, "the batch's target was cached")
	batches, _, _ := b.store.stats()
	require.Len(t, batches, 1)
}

// TestCacheBatchInvalidationOvertakesLoad is
// TestCacheInvalidationOvertakesLoad for a batch: a batch that read the row
// before the app was disabled and invalidated is not kept, and its callers
// read the row again.
func TestCacheBatchInvalidationOvertakesLoad(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, 1)
	s := b.seeds[0]
	hook, entered, release := gate(t, 1)
	b.store.after = func(n int) error { hook(n); return nil } // held after reading the row

	first := b.goTarget(context.Background(), s.InstallationID)
	require.Equal(t, 1, <-entered, "the first batch read the row")
	// The disable commits while it runs, and is invalidated.
	require.NoError(t, b.db.Exec(`UPDATE sentry_apps SET events = '[]' WHERE id = ?`, s.SentryAppID).Error)
	b.cache.InvalidateApp(s.SentryAppID)
	second := b.goTarget(context.Background(), s.InstallationID) // arrives after the invalidation
	release()
	for _, ch := range []<-chan cacheResult{first, second} {
		r := <-ch
		require.NoError(t, r.err)
		require.Empty(t, r.t.AppEvents, "the caller got the row as it is after the disable")
	}
	cached, err := b.cache.Target(context.Background(), s.InstallationID)
	require.NoError(t, err)
	require.Empty(t, cached.AppEvents, "the stale row was not cached")
	loads, _, _ := b.store.stats()
	require.GreaterOrEqual(t, len(loads), 2, "the row was read again")
	again, err := b.cache.Target(context.Background(), s.InstallationID)
	require.NoError(t, err)
	require.Same(t, cached, again)
	after, _, _ := b.store.stats()
	require.Len(t, after, len(loads), "the fresh row is cached")
}

// loaderOnly hides Targets: a cache on it loads one id per query.
type loaderOnly struct{ Loader }

// BenchmarkCacheColdMisses measures 50 concurrent misses on a cold cache
// over a real Store whose pool keeps no idle connection (as at a worker's
// start), batched and one by one: conns/op is how many connections the
// burst opened, queries/op how many target queries it ran.
func BenchmarkCacheColdMisses(b *testing.B) {
	const installations = 50
	bb := setupBatch(b, installations)
	sqlDB, err := bb.db.DB()
	require.NoError(b, err)
	sqlDB.SetMaxIdleConns(0)
	for _, mode := range []string{"batched", "single"} {
		b.Run(mode, func(b *testing.B) {
			closedBefore, queriesBefore := sqlDB.Stats().MaxIdleClosed, bb.queries.Load()
			for b.Loop() {
				var next Loader = bb.store.Store
				if mode == "single" {
					next = loaderOnly{bb.store.Store}
				}
				cache := NewCache(next, time.Hour, 10000)
				var wg sync.WaitGroup
				for _, s := range bb.seeds {
					wg.Go(func() {
						got, err := cache.Target(context.Background(), s.InstallationID)
						if err != nil || got.InstallationID != s.InstallationID {
							b.Errorf("installation %d: %v, %v", s.InstallationID, got, err)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(sqlDB.Stats().MaxIdleClosed-closedBefore)/float64(b.N), "conns/op")
			b.ReportMetric(float64(bb.queries.Load()-queriesBefore)/float64(b.N), "queries/op")
		})
	}
}
