package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// fakeTB stands in for a test whose t.Fatalf the caller wants to see: it
// records the message and the cleanups instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	cleanups []func()
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Cleanup(fn func())   { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Logf(string, ...any) {}

// cleanup runs the recorded cleanups, last first, as testing does.
func (f *fakeTB) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

// call runs fn as a test body would and returns what it returned, or the
// fatal message it stopped with.
func call[T any](f *fakeTB, fn func() T) (got T, fatal string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = fn()
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return got, f.fatal
}

// lend leases a database of the throwaway server and returns its options,
// so the tests below can treat it as a developer's "existing" database.
func lend(t *testing.T) (*redis.Client, *redis.Options) {
	if TakingTurns() {
		t.Skip("needs the throwaway Redis of scripts/test.sh to lend a database from")
	}
	r := NewRedis(t)
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	return r.Client, opt
}

// TestExternalRedisUsesOnlyItsDatabaseAndOnlyItsKeys: on an existing Redis
// a test gets exactly the database named in the URL, and what it wrote is
// gone after it while the rest of the server is untouched.
func TestExternalRedisUsesOnlyItsDatabaseAndOnlyItsKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	own, opt := lend(t)

	f := &fakeTB{TB: t}
	r, fatal := call(f, func() *Redis { return newExternalRedis(f, opt, time.Now().Add(time.Minute)) })
	if fatal != "" {
		t.Fatalf("empty database refused: %s", fatal)
	}
	if r.DB != opt.DB || !strings.HasSuffix(r.URL, fmt.Sprintf("/%d", opt.DB)) {
		t.Fatalf("got database %d (%s), want the URL's %d", r.DB, r.URL, opt.DB)
	}
	for i := range 1200 { // more than one SCAN batch
		if err := r.Client.Set(ctx, fmt.Sprintf("test:key:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	f.cleanup()
	if n := own.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("%d keys left after the test's cleanup, want 0", n)
	}
}

// TestExternalRedisRefusesADatabaseWithData: a database holding a key the
// tests did not write is neither used nor changed, and the turn is freed.
func TestExternalRedisRefusesADatabaseWithData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	own, opt := lend(t)
	if err := own.Set(ctx, "developer:precious", "keep me", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f := &fakeTB{TB: t}
	_, fatal := call(f, func() *Redis { return newExternalRedis(f, opt, time.Now().Add(time.Minute)) })
	f.cleanup()
	if !strings.Contains(fatal, "1 key(s) the tests did not write") || !strings.Contains(fatal, `"developer:precious"`) {
		t.Fatalf("want a refusal naming the key, got %q", fatal)
	}
	if v := own.Get(ctx, "developer:precious").Val(); v != "keep me" {
		t.Fatalf("the developer's key is %q now", v)
	}
	if n := own.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("%d keys in the database, want only the developer's (the turn must be released)", n)
	}
}

// TestExternalRedisTakesTurns: two tests never hold the one database at once.
func TestExternalRedisTakesTurns(t *testing.T) {
	t.Parallel()
	_, opt := lend(t)
	first := &fakeTB{TB: t}
	if _, fatal := call(first, func() *Redis { return newExternalRedis(first, opt, time.Now().Add(time.Minute)) }); fatal != "" {
		t.Fatal(fatal)
	}
	second := &fakeTB{TB: t}
	_, fatal := call(second, func() *Redis { return newExternalRedis(second, opt, time.Now().Add(300*time.Millisecond)) })
	second.cleanup()
	if !strings.Contains(fatal, "stayed busy") {
		t.Fatalf("a second test got the database while the first held it: %q", fatal)
	}
	first.cleanup()
	third := &fakeTB{TB: t}
	if _, fatal := call(third, func() *Redis { return newExternalRedis(third, opt, time.Now().Add(time.Minute)) }); fatal != "" {
		t.Fatalf("the database stayed taken after the first test: %s", fatal)
	}
	third.cleanup()
}

// TestThrowawayNeedsTheMark: a TEST_REDIS_THROWAWAY token the server does
// not hold never unlocks the whole server.
func TestThrowawayNeedsTheMark(t *testing.T) {
	t.Parallel()
	_, opt := lend(t)
	f := &fakeTB{TB: t}
	_, fatal := call(f, func() *Redis { return newThrowawayRedis(f, opt, "not-the-token") })
	f.cleanup()
	if !strings.Contains(fatal, "is not the throwaway server") {
		t.Fatalf("want a refusal, got %q", fatal)
	}
}

// TestPostgresDatabaseIsDropped: each test gets a database of its own, and
// it is gone after the test.
func TestPostgresDatabaseIsDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		pg := NewPostgres(t)
		name = pg.Name
		if err := pg.DB.Exec("CREATE TABLE t (id int)").Error; err != nil {
			t.Fatal(err)
		}
		var cur string
		if err := pg.DB.Raw("SELECT current_database()").Scan(&cur).Error; err != nil || cur != name {
			t.Fatalf("connected to %q (%v), want %q", cur, err, name)
		}
	})
	admin, err := sql.Open("pgx", DatabaseBaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow("SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Fatalf("database %q still exists after its test (%d)", name, n)
	}
}

// TestRedisClusterComesUp: three masters share the slots, and a go-redis
// ClusterClient writes and reads keys that land on every one of them.
func TestRedisClusterComesUp(t *testing.T) {
	t.Parallel()
	c := NewRedisCluster(t)
	if len(c.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(c.Nodes))
	}
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	owners := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		if got, err := rdb.Get(ctx, key).Int(); err != nil || got != i {
			t.Fatalf("GET %s = %d, %v; want %d", key, got, err, i)
		}
		node, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owners[node.Options().Addr] = true
	}
	if len(owners) != 3 {
		t.Fatalf("30 keys landed on %d masters, want all 3: %v", len(owners), owners)
	}
}

// TestRedisSentinelComesUp: a FailoverClient finds the master through the
// Sentinels, writes, and the write reaches the replica; after the master
// is killed the Sentinels promote the replica and the client writes again.
func TestRedisSentinelComesUp(t *testing.T) {
	t.Parallel()
	s := NewRedisSentinel(t)
	ctx := context.Background()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs()})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatalf("SET through Sentinel: %v", err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v1" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	replica := redis.NewClient(&redis.Options{Addr: s.Replica.Addr})
	defer replica.Close()
	deadline := time.Now().Add(10 * time.Second)
	for replica.Get(ctx, "k").Val() != "v1" {
		if time.Now().After(deadline) {
			t.Fatal("the write never reached the replica")
		}
		time.Sleep(20 * time.Millisecond)
	}

	s.Master.Kill()
	deadline = time.Now().Add(45 * time.Second)
	for rdb.Set(ctx, "k", "v2", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("no master to write to 45 s after the old one was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := replica.Get(ctx, "k").Val(); got != "v2" {
		t.Fatalf("after failover the replica holds %q, want v2 (it is the master now)", got)
	}
}
