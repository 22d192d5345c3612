package ops

import (
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/redisconn"
)

// uiPoolSize is the queue UI's own connection pool: a person clicking
// around needs few connections, and they must not come out of the worker's.
const uiPoolSize = 4

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
	return o.ConnOpt(uiPoolSize), nil
}
