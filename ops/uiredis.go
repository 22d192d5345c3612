package ops

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/redisconn"
)

// uiPoolSize is the queue UI's own connection pool: a person clicking
// around needs few connections, and they must not come out of the worker's.
const uiPoolSize = 4

// uiReadTimeout bounds one reply to the queue UI. A page of tasks can hold
// megabytes of payloads (asynq keeps a task whole, however large; 20
// oversized archived tasks are 200 MB), which a busy Redis may take longer
// than go-redis's default 3 s to send; a person waiting for a page can wait
// that long, a worker's delivery path never does.
const uiReadTimeout = 30 * time.Second

// newUIRedis returns the asynq.RedisConnOpt handed to asynqmon. asynqmon
// makes two clients from it and closes both in Close, so it must not receive
// the worker's shared client: each call makes a new client (one node,
// Sentinel or cluster, as REDIS_URL says) with a small pool. rawURL is
// parsed once, so a bad URL fails in New, not in a request.
func newUIRedis(rawURL string) (asynq.RedisConnOpt, error) {
	o, err := redisconn.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("ops: Redis URL for the queue UI: %w", err)
	}
	return o.ConnOpt(func(u *redis.UniversalOptions) {
		u.PoolSize = uiPoolSize
		if u.ReadTimeout == 0 { // not set in REDIS_URL
			u.ReadTimeout = uiReadTimeout
		}
	}), nil
}
