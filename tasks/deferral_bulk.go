package tasks

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/producer"
	"github.com/hookworker/hookworker/store"
)

// asynq dequeues in FIFO order, so every task of a stuck app's backlog
// would be fetched, deferred (a scheduled copy) and finished one by one —
// three Redis scripts each, about the cost of a delivery — before the
// tasks queued behind it. Once an app looks stuck, the Deliverer therefore
// also moves the installation's tasks that wait next in the queue aside in
// bulk: one script reads the oldest bulkScan pending tasks and moves those
// whose payload starts with the installation's id to the Scheduled set,
// paced as single deferrals are. A task moved aside is the original task
// (its id is the delivery id, no retry spent, no error), not a copy: the
// script cannot rewrite asynq's encoded message to add the copy's headers.

// bulkScan is how many of the oldest pending tasks one bulk move reads.
// The script runs in Redis's single thread: at ~1 µs a task it holds Redis
// for about a millisecond.
const bulkScan = 1000

// bulkGap is the least time between two bulk moves of one app by one
// Deliverer: each moves what it finds among the next bulkScan tasks, and
// the app's next deferral, if any, starts the next move. After a move that
// found the app's tasks sparse (under a quarter of those read), the next
// waits bulkSparseGap: its tasks are interleaved with others', and single
// deferrals cost less than reading a thousand tasks again and again.
const (
	bulkGap       = 10 * time.Millisecond
	bulkSparseGap = time.Second
)

// bulkDeferScript moves the tasks of one installation among the oldest
// ARGV[2] pending tasks of a queue to its scheduled set, and returns how
// many it moved and how many it read. KEYS: pending
// list, scheduled set. ARGV: task key prefix, count, task type, the payload
// prefix `{"installation_id":<id>,`, now (Unix s), first delay, step and
// longest delay (s). Pending is a list pushed on the left and popped on the
// right, so the tail is the oldest; the kept tasks go back in their order.
// A task matches when its encoded asynq message (protobuf: field 1 the
// type, field 2 the payload) starts with the type and its payload with the
// prefix, so an id elsewhere in a payload never matches.
var bulkDeferScript = redis.NewScript(`
local ids = redis.call("LRANGE", KEYS[1], -tonumber(ARGV[2]), -1)
local n = #ids
if n == 0 then return {0, 0} end
local typ, prefix = ARGV[3], ARGV[4]
local now, first, step, longest = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local head = string.char(10, #typ) .. typ .. string.char(18)
local kept, moved = {}, 0
local keep = {}
for i = n, 1, -1 do
	local id = ids[i]
	local key = ARGV[1] .. id
	local msg = redis.call("HGET", key, "msg")
	local match = false
	if msg and string.sub(msg, 1, #head) == head then
		-- the payload's length is a varint of 1 to 3 bytes here
		local p = #head + 1
		while p <= #head + 3 and (string.byte(msg, p) or 0) >= 128 do p = p + 1 end
		match = string.sub(msg, p + 1, p + #prefix) == prefix
	end
	if match then
		local d = first + moved * step
		if d > longest then d = longest / 2 + (moved % 1000) * longest / 2000 end
		redis.call("ZADD", KEYS[2], now + d, id)
		redis.call("HSET", key, "state", "scheduled")
		moved = moved + 1
	else
		keep[i] = true
	end
end
if moved == 0 then return {0, n} end
for i = 1, n do
	if keep[i] then kept[#kept + 1] = ids[i] end
end
redis.call("LTRIM", KEYS[1], 0, -(n + 1))
for i = 1, #kept, 1000 do
	redis.call("RPUSH", KEYS[1], unpack(kept, i, math.min(i + 999, #kept)))
end
return {moved, n}
`)

// bulkDeferrer runs at most one bulk move per app at a time in a Deliverer.
type bulkDeferrer struct {
	rdb redis.Scripter
	mu  sync.Mutex
	// running holds the apps with a move in progress, next when each app
	// may move again.
	running map[int64]bool
	next    map[int64]time.Time
}

// start reports whether app may start a move now, and marks it running.
func (b *bulkDeferrer) start(app int64, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[app] || now.Before(b.next[app]) {
		return false
	}
	if len(b.next) > 4096 { // bounded: forget old entries
		clear(b.next)
	}
	b.running[app] = true
	return true
}

// done ends app's move, which moved moved of the read tasks.
func (b *bulkDeferrer) done(app int64, moved, read int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.running, app)
	gap := bulkGap
	if moved*4 < read {
		gap = bulkSparseGap
	}
	b.next[app] = time.Now().Add(gap)
}

// bulkDefer moves the installation's tasks waiting next in queue aside (see
// bulkDeferScript), in the background, unless a move of the app runs or
// ran within bulkGap.
func (d *Deliverer) bulkDefer(queue string, target *store.Target, installationID int64) {
	b := d.bulk
	if b == nil || queue == "" || !b.start(target.AppID, time.Now()) {
		return
	}
	go func() {
		moved, read := 0, 0
		defer func() { b.done(target.AppID, moved, read) }()
		first, step, longest := d.slots.bulkPlan(target.AppID)
		if step <= 0 {
			return
		}
		prefix := `{"installation_id":` + strconv.FormatInt(installationID, 10) + `,`
		q := "asynq:{" + queue + "}:"
		ctx, cancel := context.WithTimeout(context.Background(), deferTimeout)
		defer cancel()
		res, err := bulkDeferScript.Run(ctx, b.rdb, []string{q + "pending", q + "scheduled"},
			q+"t:", bulkScan, producer.TypeResourceChange, prefix, float64(time.Now().UnixMilli())/1000,
			first.Seconds(), step.Seconds(), longest.Seconds()).Int64Slice()
		if err == nil && len(res) != 2 {
			err = fmt.Errorf("bulk defer script answered %v", res)
		}
		if err != nil {
			d.log.Warn("send_webhooks.bulk_defer_failed", zap.Int64("installation_id", installationID), zap.Error(err))
			return
		}
		moved, read = int(res[0]), int(res[1])
		if moved > 0 {
			d.slots.bulkReserved(target.AppID, moved)
			d.metrics.Deferred.WithLabelValues(integrationLabel(target)).Add(float64(moved))
			d.log.Debug("send_webhooks.bulk_deferred", zap.Int64("installation_id", installationID), zap.Int("moved", moved))
		}
	}()
}
