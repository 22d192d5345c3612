package requestlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter is one hash counter to increment in the same script as an entry
// (the breaker's daily counter): HINCRBY Key Field 1, then EXPIRE Key TTL.
type Counter struct {
	Key   string
	Field string
	TTL   time.Duration
}

// writeScript pushes one entry on the request list (and the error list for
// failures), trims and refreshes them, and increments the optional
// counter: all of one attempt's writes in a single command.
//
// KEYS: request list, error list[, counter hash]
// ARGV: entry, list TTL seconds, max entries, "1" for a failure,
//
//	counter field ("" for none), counter TTL seconds
const writeScript = `
local max = tonumber(ARGV[3]) - 1
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, max)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if ARGV[4] == '1' then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  redis.call('LTRIM', KEYS[2], 0, max)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
return 1
`

// Writer writes each attempt's entry, and the breaker counter with it, in
// one Redis command (EVALSHA of a small script): one round trip and one
// command per delivery instead of up to eight pipelined ones. The keys of
// one call live in different hash slots, so Redis Cluster is not supported.
type Writer struct {
	rdb    redis.Scripter
	script *redis.Script
}

// NewWriter returns a Writer on rdb.
func NewWriter(rdb redis.Scripter) *Writer {
	return &Writer{rdb: rdb, script: redis.NewScript(writeScript)}
}

// Write records e for appID and event, and increments c when it is not nil.
func (w *Writer) Write(ctx context.Context, appID int64, event string, e Entry, c *Counter) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode request log entry: %w", err)
	}
	keys := make([]string, 2, 3)
	keys[0], keys[1] = RequestKey(appID, event), ErrorKey(appID, event)
	failure, field, counterTTL := "0", "", "0"
	if IsFailure(e.ResponseCode) {
		failure = "1"
	}
	if c != nil {
		keys = append(keys, c.Key)
		field, counterTTL = c.Field, strconv.FormatInt(int64(c.TTL/time.Second), 10)
	}
	err = w.script.Run(ctx, w.rdb, keys, b, int64(TTL/time.Second), MaxEntries, failure, field, counterTTL).Err()
	if err != nil {
		return fmt.Errorf("write request log of app %d: %w", appID, err)
	}
	return nil
}
