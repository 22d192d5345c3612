package breaker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Breaker reads and writes the daily breaker counters in Redis. It holds no
// mutable state, so one Breaker is safe for concurrent use by many workers.
type Breaker struct {
	rdb       redis.Cmdable
	now       func() time.Time
	threshold int64
}

// Options configures a Breaker. The zero value gives production behaviour.
type Options struct {
	// Now is the clock used to pick the UTC day; nil means time.Now. Tests
	// inject a fixed clock to exercise day boundaries.
	Now func() time.Time
	// TimeoutThreshold is BROKEN_TIMEOUT_THRESHOLD, the number of timeouts
	// in one UTC day that marks an app broken; 0 (or less) means
	// DefaultTimeoutThreshold.
	TimeoutThreshold int64
}

// New returns a Breaker that keeps its counters in rdb, configured by opts.
func New(rdb redis.Cmdable, opts Options) *Breaker {
	b := &Breaker{rdb: rdb, now: opts.Now, threshold: opts.TimeoutThreshold}
	if b.now == nil {
		b.now = time.Now
	}
	if b.threshold <= 0 {
		b.threshold = DefaultTimeoutThreshold
	}
	return b
}

// Now returns the breaker's clock time, so callers that log or store the
// moment of a breaker decision use the same (possibly injected) clock.
func (b *Breaker) Now() time.Time {
	return b.now()
}

// Record queues HINCRBY <field> 1 and EXPIRE 691200 on today's key of
// appID/orgID onto pipe, without executing it. o == None (or any unknown
// Outcome) queues nothing. Whether the app is counted at all is the
// caller's decision (see Counts). Record does not check the epoch: it
// writes counters as they are, for tools and tests; deliveries go through
// Increment and the request log's script.
func (b *Breaker) Record(pipe redis.Pipeliner, appID, orgID int64, o Outcome) {
	inc, ok := b.Increment(appID, orgID, o, b.now())
	if !ok {
		return
	}
	// The commands run when the caller executes the pipe; that Exec's
	// context governs the round trip, so a background context is enough here.
	ctx := context.Background()
	pipe.HIncrBy(ctx, inc.Key, inc.Field, 1)
	pipe.Expire(ctx, inc.Key, inc.TTL)
}

// Increment is one counter update: HINCRBY Key Field 1, then EXPIRE Key TTL,
// unless the attempt Started before the time stored at FenceKey (the key's
// fence, set by the last Reset that could reach this key): a delivery that
// was already in flight when the app was disabled, re-enabled or cleared
// must not count against the app's fresh history. FenceKey shares Key's
// hash slot (see FenceKey), so the check and the increment are one script
// on Redis Cluster too.
type Increment struct {
	Key      string
	Field    string
	TTL      time.Duration
	FenceKey string
	Started  time.Time
}

// Increment returns the update Record would queue for o, for callers that
// write it by other means (the request log's script, which also checks the
// fence); started is when the attempt began (before its request was sent).
// ok is false for None.
func (b *Breaker) Increment(appID, orgID int64, o Outcome, started time.Time) (inc Increment, ok bool) {
	field := o.field()
	if field == "" {
		return Increment{}, false
	}
	key := Key(appID, orgID, b.now())
	return Increment{Key: key, Field: field, TTL: keyTTL, FenceKey: FenceKey(key), Started: started}, true
}

// Broken reports whether appID/orgID is broken by the rules of IsBroken. It
// reads the 7 days today … today−6 in one pipelined round trip (one HMGET of
// the three counters per day); missing keys and fields count as zero.
func (b *Breaker) Broken(ctx context.Context, appID, orgID int64) (bool, error) {
	keys := dayKeys(appID, orgID, b.now(), windowDays)
	cmds := make([]*redis.SliceCmd, len(keys))
	pipe := b.rdb.Pipeline()
	for i, key := range keys {
		cmds[i] = pipe.HMGet(ctx, key, fieldSuccess, fieldError, fieldTimeout)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("read breaker days for app %d: %w", appID, err)
	}
	days := make([]Day, len(keys))
	for i, cmd := range cmds {
		d, err := parseDay(cmd.Val())
		if err != nil {
			return false, fmt.Errorf("read breaker days for app %d: key %s: %w", appID, keys[i], err)
		}
		days[i] = d
	}
	return IsBroken(days, b.threshold), nil
}

// Clear deletes the 30 daily keys of appID/orgID, today … today−29, and
// moves their fences and appID's epoch to now (see Reset).
func (b *Breaker) Clear(ctx context.Context, appID, orgID int64) error {
	return b.Reset(ctx, appID, []int64{orgID})
}

// Reset deletes the 30 daily keys (today … today−29) of appID in each of
// orgIDs and moves forward to now (never back) the fences of the keys that
// deliveries still in flight can write (yesterday's, today's and
// tomorrow's, see fenceFirst) and appID's epoch, so that an app that was
// disabled, re-enabled or cleared is judged only on attempts started from
// then on: its old history is gone, and the counts of attempts still in
// flight are dropped when they arrive (see Increment).
//
// Every command names keys of one hash slot (a fenced key is deleted in the
// same script that moves its fence), and all of them go in one pipelined
// round trip: one round trip on a single node, one per node on Redis
// Cluster. Each key is reset atomically with its fence; the keys are not
// reset atomically together, which no reader needs (a reader sees each day
// either before or after the reset).
func (b *Breaker) Reset(ctx context.Context, appID int64, orgIDs []int64) error {
	now := b.now()
	micros, ttl := EpochMicros(now), int64(keyTTL/time.Second)
	pipe := b.rdb.Pipeline()
	// EVAL, not EVALSHA: no NOSCRIPT retry for a rare operation.
	resetScript.Eval(ctx, pipe, []string{EpochKey(appID)}, micros, ttl)
	for _, org := range orgIDs {
		fenced := map[string]bool{}
		for d := fenceFirst; d <= fenceLast; d++ {
			key := Key(appID, org, now.AddDate(0, 0, d))
			fenced[key] = true
			resetScript.Eval(ctx, pipe, []string{FenceKey(key), key}, micros, ttl)
		}
		for _, key := range dayKeys(appID, org, now, clearDays) {
			if !fenced[key] {
				pipe.Del(ctx, key)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("clear breaker days for app %d: %w", appID, err)
	}
	return nil
}

// Epoch returns appID's epoch: attempts started before it are not counted.
// ok is false when the app has none (never cleared, or cleared more than 8
// days ago).
func (b *Breaker) Epoch(ctx context.Context, appID int64) (epoch time.Time, ok bool, err error) {
	v, err := b.rdb.Get(ctx, EpochKey(appID)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read breaker epoch of app %d: %w", appID, err)
	}
	return time.UnixMicro(v).UTC(), true, nil
}

// resetScript moves the time at KEYS[1] (a fence or an epoch) forward to
// ARGV[1] (microseconds) with TTL ARGV[2] seconds, and deletes KEYS[2…]
// (the fenced counter key, which shares KEYS[1]'s slot).
var resetScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
end
return 1
`)

// parseDay turns the reply of HMGET success_count error_count timeout_count
// into a Day; nil entries (missing key or field) are zero.
func parseDay(vals []any) (Day, error) {
	var n [3]int64
	if len(vals) != len(n) {
		return Day{}, fmt.Errorf("HMGET returned %d values, want %d", len(vals), len(n))
	}
	names := [3]string{fieldSuccess, fieldError, fieldTimeout}
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
		case string:
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Day{}, fmt.Errorf("field %s: %w", names[i], err)
			}
			n[i] = x
		case int64:
			n[i] = v
		default:
			return Day{}, fmt.Errorf("field %s: unexpected reply type %T", names[i], v)
		}
	}
	return Day{Success: n[0], Error: n[1], Timeout: n[2]}, nil
}
