// Package testenv gives each test its own real Redis database and its own
// PostgreSQL database, so tests run repeatedly without seeing each other's
// data and never touch data they did not create.
//
// The servers come from TEST_REDIS_URL and TEST_DATABASE_URL, which
// scripts/test.sh sets. By default the script starts a throwaway
// redis-server and PostgreSQL in a temporary directory and marks the Redis
// as throwaway (see ThrowawayKey); the tests then own that whole Redis and
// run in parallel, one leased database (1–15) each. When a developer names
// an existing Redis instead, the tests use only the database number in the
// URL: one test at a time, only while it is empty, deleting what they wrote.
// On PostgreSQL every test creates a database of its own and drops it.
// NewRedisCluster and NewRedisSentinel start private multi-node topologies.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// firstDB and lastDB bound the databases of a throwaway Redis handed out
// to parallel tests; DB 0 holds the throwaway mark and the leases.
const (
	firstDB = 1
	lastDB  = 15
)

// ThrowawayKey is the key, in database 0, by which scripts/test.sh marks a
// redis-server it started for the tests; its value is the token the script
// also puts in TEST_REDIS_THROWAWAY. Only a server carrying the token is
// treated as the tests' own (all 16 databases, flushed freely).
const ThrowawayKey = "hookworker:test:throwaway"

// externalLeaseKey is the lease a test holds on the one database of an
// existing Redis (TEST_REDIS_URL without the throwaway token). It lives in
// that database, so tests in every package process take turns.
const externalLeaseKey = "hookworker:test:lease"

// externalLeaseTTL bounds how long a lease outlives a test process that
// died without releasing it; a holder refreshes it every third of that.
const externalLeaseTTL = 30 * time.Second

// TakingTurns reports whether the Redis tests take turns on one database of
// an existing server (TEST_REDIS_URL without the throwaway token).
func TakingTurns() bool {
	return os.Getenv("TEST_REDIS_URL") != "" && os.Getenv("TEST_REDIS_THROWAWAY") == ""
}

// Parallel is t.Parallel() for the subtests of a test that shares its own
// Redis database with them. When tests take turns on one database
// (TakingTurns) it does nothing: a parallel subtest would need a parallel
// slot that tests waiting for their turn may all hold, while its parent
// keeps the turn until the subtest ends, so the run would never finish.
func Parallel(t *testing.T) {
	t.Helper()
	if !TakingTurns() {
		t.Parallel()
	}
}

// turnHolder names the test of this process holding the turn on an existing
// Redis, for the message of a test that waited in vain. Test infrastructure
// only: the one process-wide value the turn itself is.
var turnHolder struct {
	sync.Mutex
	name string
}

// RedisBaseURL returns TEST_REDIS_URL, the Redis the tests use ("" when
// unset: the tests then fail with a message rather than guess a server).
func RedisBaseURL() string { return os.Getenv("TEST_REDIS_URL") }

// Redis is an empty Redis database for the duration of one test.
type Redis struct {
	Client *redis.Client
	// URL points at that database, for child processes.
	URL string
	// DB is the database number.
	DB int
}

// NewRedis gives t an empty Redis database and closes the client at cleanup.
//
// On a throwaway server (TEST_REDIS_THROWAWAY matches the server's mark) it
// leases one of databases 1–15, flushes it before and after, and waits up to
// two minutes for a free one when parallel tests hold them all.
//
// On any other server it uses only the database named in TEST_REDIS_URL:
// it waits its turn (tests of every package take that database one at a
// time), refuses to go on if the database holds a key the tests did not
// write, and at cleanup deletes the keys written while it held the turn.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	base := RedisBaseURL()
	if base == "" {
		t.Fatalf("testenv: TEST_REDIS_URL is not set: run the tests with scripts/test.sh (make test), which starts a throwaway Redis, " +
			"or set TEST_REDIS_URL=redis://host:port/N to lend them database N of an existing server")
	}
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("testenv: TEST_REDIS_URL: %v", err)
	}
	token := os.Getenv("TEST_REDIS_THROWAWAY")
	if token == "" {
		return newExternalRedis(t, opt, externalTurnDeadline(t))
	}
	return newThrowawayRedis(t, opt, token)
}

// newThrowawayRedis leases one database of a server scripts/test.sh started.
func newThrowawayRedis(t testing.TB, opt *redis.Options, token string) *Redis {
	t.Helper()
	ctx := context.Background()
	leaseOpt := *opt
	leaseOpt.DB = 0
	leases := redis.NewClient(&leaseOpt)
	t.Cleanup(func() { leases.Close() })
	mark, err := leases.Get(ctx, ThrowawayKey).Result()
	if err != nil && err != redis.Nil {
		t.Fatalf("testenv: Redis at %s does not answer (%v); run the tests with scripts/test.sh, which starts one", opt.Addr, err)
	}
	if mark != token {
		t.Fatalf("testenv: TEST_REDIS_THROWAWAY is set but the Redis at %s is not the throwaway server scripts/test.sh started "+
			"(its %s key does not match); unset TEST_REDIS_THROWAWAY to lend the tests only the database in TEST_REDIS_URL", opt.Addr, ThrowawayKey)
	}

	lease := randomHex(8)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := firstDB; db <= lastDB; db++ {
			key := fmt.Sprintf("hookworker:test:lease:%d", db)
			ok, err := leases.SetNX(ctx, key, lease, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("testenv: lease Redis db: %v", err)
			}
			if !ok {
				continue
			}
			o := *opt
			o.DB = db
			c := redis.NewClient(&o)
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("testenv: flush Redis db %d: %v", db, err)
			}
			t.Cleanup(func() {
				c.FlushDB(context.Background())
				c.Close()
				// Release only our own lease.
				if v, _ := leases.Get(context.Background(), key).Result(); v == lease {
					leases.Del(context.Background(), key)
				}
			})
			return &Redis{Client: c, DB: db, URL: redisURL(&o)}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: no free Redis database among %d..%d after 2 minutes", firstDB, lastDB)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// externalTurnDeadline is how long a test waits for its turn on an existing
// Redis: until shortly before go test's -timeout, as every Redis test of
// the run may be queued in front of it.
func externalTurnDeadline(t testing.TB) time.Time {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			return dl.Add(-30 * time.Second)
		}
	}
	return time.Now().Add(30 * time.Minute)
}

// releaseScript deletes the lease only if it still holds our token.
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// refreshScript extends the lease only if it still holds our token.
var refreshScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// newExternalRedis takes a turn on the one database opt names.
func newExternalRedis(t testing.TB, opt *redis.Options, deadline time.Time) *Redis {
	t.Helper()
	ctx := context.Background()
	o := *opt
	c := redis.NewClient(&o)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testenv: Redis at %s does not answer (%v); check TEST_REDIS_URL, or unset it to let scripts/test.sh start a throwaway Redis", o.Addr, err)
	}
	token := randomHex(8)
	for {
		turnHolder.Lock()
		holder := turnHolder.name
		turnHolder.Unlock()
		if holder != "" && strings.HasPrefix(t.Name(), holder+"/") {
			c.Close()
			t.Fatalf("testenv: %s wants a Redis database while its parent test holds the only one (db %d of TEST_REDIS_URL); "+
				"share the parent's database instead", t.Name(), o.DB)
		}
		ok, err := c.SetNX(ctx, externalLeaseKey, token, externalLeaseTTL).Result()
		if err != nil {
			c.Close()
			t.Fatalf("testenv: take the turn on Redis db %d: %v", o.DB, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			c.Close()
			hint := ""
			if holder != "" {
				hint = fmt.Sprintf("; %s of this process holds it: if that test runs parallel subtests on its database, "+
					"they must call testenv.Parallel(t), not t.Parallel()", holder)
			}
			t.Fatalf("testenv: Redis db %d at %s stayed busy with other tests (key %s) until the test's deadline%s", o.DB, o.Addr, externalLeaseKey, hint)
		}
		time.Sleep(50 * time.Millisecond)
	}
	turnHolder.Lock()
	turnHolder.name = t.Name()
	turnHolder.Unlock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keep the turn while the test runs
		defer wg.Done()
		tick := time.NewTicker(externalLeaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				refreshScript.Run(context.Background(), c, []string{externalLeaseKey}, token, externalLeaseTTL.Milliseconds())
			}
		}
	}()
	release := func() {
		turnHolder.Lock()
		if turnHolder.name == t.Name() {
			turnHolder.name = ""
		}
		turnHolder.Unlock()
		close(stop)
		wg.Wait()
		releaseScript.Run(context.Background(), c, []string{externalLeaseKey}, token)
		c.Close()
	}

	if foreign, n, err := foreignKeys(ctx, c, 3); err != nil {
		release()
		t.Fatalf("testenv: look at Redis db %d: %v", o.DB, err)
	} else if n > 0 {
		release()
		t.Fatalf("testenv: Redis db %d at %s holds %d key(s) the tests did not write (%s); the tests use only the database named in TEST_REDIS_URL "+
			"and only while it is empty: name an empty database, or unset TEST_REDIS_URL to let scripts/test.sh start a throwaway Redis",
			o.DB, o.Addr, n, strings.Join(foreign, ", "))
	}
	t.Cleanup(func() {
		// The database was empty when the turn began and no one else
		// used it since, so every key but the lease is the test's own.
		if err := deleteAllBut(context.Background(), c, externalLeaseKey); err != nil {
			t.Logf("testenv: delete the test's keys in Redis db %d: %v", o.DB, err)
		}
		release()
	})
	return &Redis{Client: c, DB: o.DB, URL: redisURL(&o)}
}

// foreignKeys reports how many keys other than the lease the database holds,
// and up to max of their names.
func foreignKeys(ctx context.Context, c *redis.Client, max int) ([]string, int64, error) {
	size, err := c.DBSize(ctx).Result()
	if err != nil {
		return nil, 0, err
	}
	if size <= 1 {
		if size == 0 {
			return nil, 0, nil
		}
		if n, err := c.Exists(ctx, externalLeaseKey).Result(); err != nil || n == 1 {
			return nil, 0, err
		}
	}
	var names []string
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) && len(names) < max {
		if k := iter.Val(); k != externalLeaseKey {
			names = append(names, fmt.Sprintf("%q", k))
		}
	}
	n := size
	if ok, _ := c.Exists(ctx, externalLeaseKey).Result(); ok == 1 {
		n--
	}
	return names, n, iter.Err()
}

// deleteAllBut deletes every key of the database except keep.
func deleteAllBut(ctx context.Context, c *redis.Client, keep string) error {
	for range 100 { // keys written while deleting get another pass
		var batch []string
		iter := c.Scan(ctx, 0, "*", 500).Iterator()
		for iter.Next(ctx) {
			if k := iter.Val(); k != keep {
				batch = append(batch, k)
			}
			if len(batch) == 500 {
				if err := c.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
		}
		size, err := c.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if size <= 1 {
			return nil
		}
	}
	return fmt.Errorf("keys keep appearing")
}

func redisURL(o *redis.Options) string {
	auth := ""
	if o.Password != "" {
		auth = ":" + o.Password + "@"
		if o.Username != "" {
			auth = o.Username + auth
		}
	}
	scheme := "redis"
	if o.TLSConfig != nil {
		scheme = "rediss"
	}
	return fmt.Sprintf("%s://%s%s/%d", scheme, auth, o.Addr, o.DB)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// TestKeys returns every key of the test's database except the one testenv
// holds the database with on an existing Redis: what a test that checks a
// database's whole content should compare (not KEYS * or DBSIZE).
func TestKeys(ctx context.Context, c *redis.Client) ([]string, error) {
	var keys []string
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		if k := iter.Val(); k != externalLeaseKey {
			keys = append(keys, k)
		}
	}
	return keys, iter.Err()
}
