package breaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/internal/testenv"
)

// day0 is the "today" of most tests: Friday 2026-11-27 UTC.
func day0() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

// fakeClock is an injectable clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// newTestBreaker returns a Breaker on a leased, empty Redis database, driven
// by a fake clock set to day0.
func newTestBreaker(t *testing.T, threshold int64) (*Breaker, *redis.Client, *fakeClock) {
	t.Helper()
	r := testenv.NewRedis(t)
	clk := &fakeClock{t: day0()}
	return New(r.Client, Options{Now: clk.Now, TimeoutThreshold: threshold}), r.Client, clk
}

// record records n outcomes o for appID/orgID at the clock's time, executing
// each pipe as the caller would.
func record(t *testing.T, b *Breaker, rdb *redis.Client, appID, orgID int64, o Outcome, n int) {
	t.Helper()
	for range n {
		pipe := rdb.Pipeline()
		b.Record(pipe, appID, orgID, o)
		if _, err := pipe.Exec(context.Background()); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("exec record pipe: %v", err)
		}
	}
}

// broken calls b.Broken and fails the test on error.
func broken(t *testing.T, b *Breaker, appID, orgID int64) bool {
	t.Helper()
	got, err := b.Broken(context.Background(), appID, orgID)
	if err != nil {
		t.Fatalf("Broken(%d, %d): %v", appID, orgID, err)
	}
	return got
}

// roundTrips is a go-redis hook counting round trips: every ProcessHook and
// ProcessPipelineHook call, and the commands each carried.
type roundTrips struct {
	mu    sync.Mutex
	calls int
	cmds  [][]redis.Cmder
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.add(cmds)
		return next(ctx, cmds)
	}
}

func (h *roundTrips) add(cmds []redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	h.cmds = append(h.cmds, cmds)
}

func (h *roundTrips) snapshot() (int, [][]redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, slices.Clone(h.cmds)
}

// countRoundTrips attaches a roundTrips hook to rdb after warming up its
// connection, so the connection handshake is not counted.
func countRoundTrips(t *testing.T, rdb *redis.Client) *roundTrips {
	t.Helper()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	h := &roundTrips{}
	rdb.AddHook(h)
	return h
}

func TestKeyFormatExact(t *testing.T) {
	t.Parallel()
	if got, want := Key(7, 9, time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC)), "sentry-app-error:7:9:2026-11-27"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
}

func TestRecordWritesHashAndTTL(t *testing.T) {
	t.Parallel()
	b, rdb, _ := newTestBreaker(t, 0)
	ctx := context.Background()
	key := "sentry-app-error:7:9:2026-11-27"

	pipe := rdb.Pipeline()
	b.Record(pipe, 7, 9, None)
	if n := pipe.Len(); n != 0 {
		t.Fatalf("Record(None) queued %d commands, want 0", n)
	}
	b.Record(pipe, 7, 9, Success)
	b.Record(pipe, 7, 9, Error)
	b.Record(pipe, 7, 9, Timeout)
	b.Record(pipe, 7, 9, Timeout)
	b.Record(pipe, 7, 9, None)
	if n := pipe.Len(); n != 8 {
		t.Fatalf("4 counted Records queued %d commands, want 8", n)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	wantArgs := [][]any{
		{"hincrby", key, "success_count", int64(1)},
		{"expire", key, int64(691200)},
		{"hincrby", key, "error_count", int64(1)},
		{"expire", key, int64(691200)},
		{"hincrby", key, "timeout_count", int64(1)},
		{"expire", key, int64(691200)},
	}
	for i, want := range wantArgs {
		if got := cmds[i].Args(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("command %d = %v, want %v", i, got, want)
		}
	}

	got, err := rdb.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatalf("hgetall: %v", err)
	}
	want := map[string]string{"success_count": "1", "error_count": "1", "timeout_count": "2"}
	if !maps.Equal(got, want) {
		t.Errorf("hash %s = %v, want %v", key, got, want)
	}
	ttl, err := rdb.TTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("ttl: %v", err)
	}
	if ttl <= 691190*time.Second || ttl > 691200*time.Second {
		t.Errorf("TTL = %v, want in (691190s, 691200s]", ttl)
	}
	if keys, _ := testenv.TestKeys(ctx, rdb); len(keys) != 1 {
		t.Errorf("keys = %q, want only %s", keys, key)
	}
}

func TestRecordDayBoundaries(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	ctx := context.Background()

	clk.t = time.Date(2026, 11, 27, 23, 59, 59, 999999999, time.UTC)
	record(t, b, rdb, 7, 9, Error, 1)
	clk.t = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	record(t, b, rdb, 7, 9, Success, 1)
	// 2026-11-28 03:00 at +05:00 is 2026-11-27 22:00 UTC.
	clk.t = time.Date(2026, 11, 28, 3, 0, 0, 0, time.FixedZone("+05", 5*3600))
	record(t, b, rdb, 7, 9, Timeout, 1)

	for key, want := range map[string]map[string]string{
		"sentry-app-error:7:9:2026-11-27": {"error_count": "1", "timeout_count": "1"},
		"sentry-app-error:7:9:2026-11-28": {"success_count": "1"},
	} {
		got, err := rdb.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatalf("hgetall %s: %v", key, err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("hash %s = %v, want %v", key, got, want)
		}
	}
	if keys, _ := testenv.TestKeys(ctx, rdb); len(keys) != 2 {
		t.Errorf("keys = %q, want the two days' hashes", keys)
	}
}

// recordErrorDays records one error on each of the given days back from the
// clock's current day (0 = today), leaving the clock where it was.
func recordErrorDays(t *testing.T, b *Breaker, rdb *redis.Client, clk *fakeClock, appID, orgID int64, daysAgo ...int) {
	t.Helper()
	now := clk.t
	for _, d := range daysAgo {
		clk.t = now.AddDate(0, 0, -d)
		record(t, b, rdb, appID, orgID, Error, 1)
	}
	clk.t = now
}

func TestBrokenErrorStreak(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)

	if broken(t, b, 7, 9) {
		t.Fatal("Broken with no data = true")
	}
	recordErrorDays(t, b, rdb, clk, 7, 9, 1, 2, 3, 4, 5, 6)
	if broken(t, b, 7, 9) {
		t.Fatal("Broken with 6 previous error days and nothing today = true, want false")
	}
	record(t, b, rdb, 7, 9, Error, 1)
	if !broken(t, b, 7, 9) {
		t.Fatal("Broken with 7 error days = false, want true")
	}
	// Another org of the same app, and another app of the same org, are apart.
	if broken(t, b, 7, 10) || broken(t, b, 8, 9) {
		t.Fatal("Broken leaks across apps or orgs")
	}
}

func TestBrokenSuccessTodaySavesStreak(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	recordErrorDays(t, b, rdb, clk, 7, 9, 0, 1, 2, 3, 4, 5, 6)
	record(t, b, rdb, 7, 9, Success, 1)
	if broken(t, b, 7, 9) {
		t.Fatal("Broken with a success today = true, want false")
	}
}

func TestBrokenTimeoutsAreNotErrors(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	now := clk.t
	for d := range 7 {
		clk.t = now.AddDate(0, 0, -d)
		record(t, b, rdb, 7, 9, Timeout, 2)
	}
	clk.t = now
	if broken(t, b, 7, 9) {
		t.Fatal("Broken with 7 timeout-only days below threshold = true, want false")
	}
}

func TestBrokenWindowShiftsAtMidnight(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	// Error days 2026-11-21 … 2026-11-27.
	recordErrorDays(t, b, rdb, clk, 7, 9, 0, 1, 2, 3, 4, 5, 6)

	tests := []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC), false}, // window 11-20 … 11-26; 11-20 empty
		{time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), true},     // window 11-21 … 11-27
		{time.Date(2026, 11, 27, 23, 59, 59, 0, time.UTC), true},
		{time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), false}, // window 11-22 … 11-28; 11-28 empty
	}
	for _, tc := range tests {
		clk.t = tc.now
		if got := broken(t, b, 7, 9); got != tc.want {
			t.Errorf("clock %s: Broken = %v, want %v", tc.now.Format(time.RFC3339), got, tc.want)
		}
	}
}

func TestBrokenTimeoutThresholdOption(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 3)

	record(t, b, rdb, 7, 9, Timeout, 2)
	if broken(t, b, 7, 9) {
		t.Fatal("2 timeouts with threshold 3: Broken = true, want false")
	}
	record(t, b, rdb, 7, 9, Timeout, 1)
	if !broken(t, b, 7, 9) {
		t.Fatal("3 timeouts with threshold 3: Broken = false, want true")
	}

	// The timeouts are on 2026-11-27: still in the window six days later,
	// out of it seven days later.
	clk.t = day0().AddDate(0, 0, 6)
	if !broken(t, b, 7, 9) {
		t.Error("3 timeouts on today-6: Broken = false, want true")
	}
	clk.t = day0().AddDate(0, 0, 7)
	if broken(t, b, 7, 9) {
		t.Error("3 timeouts on today-7: Broken = true, want false")
	}
}

func TestBrokenDefaultThreshold(t *testing.T) {
	t.Parallel()
	b, rdb, _ := newTestBreaker(t, 0)
	ctx := context.Background()
	key := Key(7, 9, day0())
	if err := rdb.HSet(ctx, key, "timeout_count", DefaultTimeoutThreshold-1).Err(); err != nil {
		t.Fatal(err)
	}
	if broken(t, b, 7, 9) {
		t.Fatal("999 timeouts with the default threshold: Broken = true, want false")
	}
	record(t, b, rdb, 7, 9, Timeout, 1)
	if !broken(t, b, 7, 9) {
		t.Fatal("1000 timeouts with the default threshold: Broken = false, want true")
	}
}

func TestBrokenOneRoundTrip(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	recordErrorDays(t, b, rdb, clk, 7, 9, 0, 1, 2, 3, 4, 5, 6)
	h := countRoundTrips(t, rdb)

	if !broken(t, b, 7, 9) {
		t.Fatal("Broken = false, want true")
	}
	calls, cmds := h.snapshot()
	if calls != 1 {
		t.Fatalf("Broken made %d round trips, want 1", calls)
	}
	if len(cmds[0]) != 7 {
		t.Fatalf("Broken sent %d commands, want 7", len(cmds[0]))
	}
	for i, cmd := range cmds[0] {
		want := fmt.Sprint([]any{"hmget", Key(7, 9, day0().AddDate(0, 0, -i)), "success_count", "error_count", "timeout_count"})
		if got := fmt.Sprint(cmd.Args()); got != want {
			t.Errorf("command %d = %s, want %s", i, got, want)
		}
	}
}

func TestBrokenBadCounter(t *testing.T) {
	t.Parallel()
	b, rdb, _ := newTestBreaker(t, 0)
	key := Key(7, 9, day0().AddDate(0, 0, -2))
	if err := rdb.HSet(context.Background(), key, "error_count", "many").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := b.Broken(context.Background(), 7, 9)
	if err == nil || !strings.Contains(err.Error(), "read breaker days for app 7") || !strings.Contains(err.Error(), key) {
		t.Fatalf("Broken with a non-numeric counter: err = %v, want a wrapped parse error naming %s", err, key)
	}
}

// deadClient returns a client for a loopback port nothing listens on.
func deadClient(t *testing.T) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{
		Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisErrorsAreWrapped(t *testing.T) {
	t.Parallel()
	b := New(deadClient(t), Options{Now: day0})
	if _, err := b.Broken(context.Background(), 7, 9); err == nil || !strings.HasPrefix(err.Error(), "read breaker days for app 7: ") {
		t.Errorf("Broken on a dead server: err = %v, want wrapped", err)
	}
	if err := b.Clear(context.Background(), 7, 9); err == nil || !strings.HasPrefix(err.Error(), "clear breaker days for app 7: ") {
		t.Errorf("Clear on a dead server: err = %v, want wrapped", err)
	}
}

func TestClear(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	ctx := context.Background()
	days := make([]int, 31) // today … today−30
	for i := range days {
		days[i] = i
	}
	recordErrorDays(t, b, rdb, clk, 7, 9, days...)
	record(t, b, rdb, 7, 10, Error, 1) // another org
	record(t, b, rdb, 8, 9, Error, 1)  // another app
	h := countRoundTrips(t, rdb)

	if err := b.Clear(ctx, 7, 9); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	calls, cmds := h.snapshot()
	if calls != 1 {
		t.Fatalf("Clear made %d round trips, want 1", calls)
	}
	// The epoch's script, three fence scripts (each deleting its key) and
	// DEL of the 28 other days: no command names two keys of two slots.
	if len(cmds[0]) != 1+3+28 {
		t.Fatalf("Clear sent %d commands, want 32", len(cmds[0]))
	}
	if args := cmds[0][0].Args(); len(args) != 3+1+2 || args[0] != "eval" || args[3] != EpochKey(7) {
		t.Errorf("Clear sent %v first, want the epoch's script", args)
	}
	for _, cmd := range cmds[0][1:4] {
		args := cmd.Args()
		if len(args) != 3+2+2 || args[0] != "eval" || args[3] != FenceKey(fmt.Sprint(args[4])) {
			t.Errorf("Clear sent %v, want a fence's script with its fence and its key", args)
		}
	}
	for _, cmd := range cmds[0][4:] {
		if args := cmd.Args(); len(args) != 2 || args[0] != "del" {
			t.Errorf("Clear sent %v, want DEL of one key", args)
		}
	}
	for _, d := range []int{-1, 0, 1} {
		key := Key(7, 9, day0().AddDate(0, 0, d))
		fence, err := rdb.Get(ctx, FenceKey(key)).Int64()
		if err != nil || fence != EpochMicros(day0()) {
			t.Errorf("fence of %s = %d, %v; want %d", key, fence, err, EpochMicros(day0()))
		}
		if ttl := rdb.TTL(ctx, FenceKey(key)).Val(); ttl < 7*24*time.Hour {
			t.Errorf("fence TTL of %s = %v, want 8 days", key, ttl)
		}
	}
	if n := rdb.Exists(ctx, FenceKey(Key(7, 9, day0().AddDate(0, 0, -2)))).Val(); n != 0 {
		t.Error("a fence was set for the day before yesterday, which no delivery in flight can write")
	}

	for _, d := range days {
		key := Key(7, 9, day0().AddDate(0, 0, -d))
		n, err := rdb.Exists(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d == 30 && n != 1:
			t.Errorf("%s (today-30) was deleted, want kept", key)
		case d < 30 && n != 0:
			t.Errorf("%s (today-%d) still exists after Clear", key, d)
		}
	}
	for _, key := range []string{Key(7, 10, day0()), Key(8, 9, day0())} {
		if n, _ := rdb.Exists(ctx, key).Result(); n != 1 {
			t.Errorf("Clear deleted %s of another app or org", key)
		}
	}
	if broken(t, b, 7, 9) {
		t.Error("Broken after Clear = true, want false")
	}
}

// TestResetEpoch checks Reset across organizations and that the epoch (and
// the fences with it) only move forward: a worker with a late clock cannot reopen the window for
// attempts that started before a later reset.
func TestResetEpoch(t *testing.T) {
	t.Parallel()
	b, rdb, clk := newTestBreaker(t, 0)
	ctx := context.Background()
	if _, ok, err := b.Epoch(ctx, 7); err != nil || ok {
		t.Fatalf("Epoch before any reset = ok %v, err %v; want none", ok, err)
	}
	for _, org := range []int64{9, 10, 11} {
		record(t, b, rdb, 7, org, Timeout, 1)
	}
	if err := b.Reset(ctx, 7, []int64{9, 10}); err != nil {
		t.Fatal(err)
	}
	for org, want := range map[int64]int64{9: 0, 10: 0, 11: 1} {
		if n, _ := rdb.Exists(ctx, Key(7, org, day0())).Result(); n != want {
			t.Errorf("org %d: today's key exists = %d, want %d", org, n, want)
		}
	}
	epoch, ok, err := b.Epoch(ctx, 7)
	if err != nil || !ok || !epoch.Equal(day0()) {
		t.Fatalf("Epoch = %v, %v, %v; want %v", epoch, ok, err, day0())
	}
	if ttl := rdb.TTL(ctx, EpochKey(7)).Val(); ttl < 7*24*time.Hour {
		t.Errorf("epoch TTL = %v, want 8 days", ttl)
	}
	clk.t = day0().Add(-time.Hour)
	if err := b.Clear(ctx, 7, 9); err != nil {
		t.Fatal(err)
	}
	if epoch, _, _ := b.Epoch(ctx, 7); !epoch.Equal(day0()) {
		t.Errorf("a reset with an earlier clock moved the epoch back to %v", epoch)
	}
	if fence, _ := rdb.Get(ctx, FenceKey(Key(7, 9, day0()))).Int64(); fence != EpochMicros(day0()) {
		t.Errorf("a reset with an earlier clock moved today's fence back to %d", fence)
	}
	clk.t = day0().Add(time.Second)
	if err := b.Clear(ctx, 7, 9); err != nil {
		t.Fatal(err)
	}
	if epoch, _, _ := b.Epoch(ctx, 7); !epoch.Equal(day0().Add(time.Second)) {
		t.Errorf("epoch = %v, want it moved to %v", epoch, day0().Add(time.Second))
	}
	if _, ok, _ := b.Epoch(ctx, 8); ok {
		t.Error("another app got an epoch")
	}
	inc, ok := b.Increment(7, 9, Timeout, day0())
	if !ok || inc.FenceKey != FenceKey(Key(7, 9, day0())) || !inc.Started.Equal(day0()) {
		t.Errorf("Increment = %+v, %v", inc, ok)
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	b := New(nil, Options{})
	if b.threshold != DefaultTimeoutThreshold {
		t.Errorf("threshold = %d, want %d", b.threshold, DefaultTimeoutThreshold)
	}
	before := time.Now()
	if got := b.Now(); got.Before(before) || time.Since(got) > time.Minute {
		t.Errorf("Now() = %v, want the wall clock", got)
	}
	b = New(nil, Options{Now: day0, TimeoutThreshold: 5})
	if b.threshold != 5 || !b.Now().Equal(day0()) {
		t.Errorf("New with options: threshold %d, Now %v", b.threshold, b.Now())
	}
}

// BenchmarkRecord measures building one delivery's breaker commands on a
// pipeline; nothing is sent (the pipe is discarded, the client never dials).
func BenchmarkRecord(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	br := New(rdb, Options{Now: day0})
	b.ReportAllocs()
	for b.Loop() {
		pipe := rdb.Pipeline()
		br.Record(pipe, 7, 9, Error)
		pipe.Discard()
	}
}
