// Package testenv gives each test its own real Redis database and its own
// PostgreSQL schema, so tests run in parallel and repeatedly without seeing
// each other's data. The services come from TEST_REDIS_URL and
// TEST_DATABASE_URL (set by scripts/test.sh), or the local defaults.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisURL is used when TEST_REDIS_URL is unset.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// firstDB and lastDB bound the Redis databases handed out to tests; DB 0 holds
// only the leases, so a developer's own data in DB 0 is never flushed.
const (
	firstDB = 1
	lastDB  = 15
)

// RedisBaseURL returns the Redis server the tests use.
func RedisBaseURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// Redis is a leased, empty Redis database for one test.
type Redis struct {
	Client *redis.Client
	// URL points at the leased database, for child processes.
	URL string
	// DB is the database number.
	DB int
}

// NewRedis leases a free Redis database (1–15) for the duration of t,
// flushes it before and after, and closes the client at cleanup. It waits up
// to two minutes for a free database when parallel tests hold them all.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	opt, err := redis.ParseURL(RedisBaseURL())
	if err != nil {
		t.Fatalf("testenv: TEST_REDIS_URL: %v", err)
	}
	ctx := context.Background()
	leaseOpt := *opt
	leaseOpt.DB = 0
	leases := redis.NewClient(&leaseOpt)
	t.Cleanup(func() { leases.Close() })
	if err := leases.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis at %s does not answer (%v); run the tests with scripts/test.sh, which starts one", opt.Addr, err)
	}

	token := randomHex(8)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := firstDB; db <= lastDB; db++ {
			key := fmt.Sprintf("hookworker:test:lease:%d", db)
			ok, err := leases.SetNX(ctx, key, token, 10*time.Minute).Result()
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
				if v, _ := leases.Get(context.Background(), key).Result(); v == token {
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
