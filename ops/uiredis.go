package ops

import (
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// uiPoolSize is the queue UI's own connection pool: a person clicking
// around needs few connections, and they must not come out of the worker's.
const uiPoolSize = 4

// uiRedis is the asynq.RedisConnOpt handed to asynqmon. asynqmon makes two
// clients from it and closes both in Close, so it must not receive the
// worker's shared client: each call makes a new client from the same
// REDIS_URL (address, user, password, TLS, database) with a small pool.
type uiRedis struct{ opt *redis.Options }

// newUIRedis parses rawURL once, so a bad URL fails in New, not in a request.
func newUIRedis(rawURL string) (uiRedis, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return uiRedis{}, fmt.Errorf("ops: Redis URL for the queue UI: %w", err)
	}
	opt.PoolSize = uiPoolSize
	return uiRedis{opt: opt}, nil
}

// MakeRedisClient implements asynq.RedisConnOpt.
func (u uiRedis) MakeRedisClient() any {
	o := *u.opt // not yet initialised by a client, so a plain copy is a clean one
	return redis.NewClient(&o)
}

var _ asynq.RedisConnOpt = uiRedis{}
