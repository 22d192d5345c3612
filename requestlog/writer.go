package requestlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter is one hash counter to increment with an entry (the breaker's
// daily counter): HINCRBY Key Field 1, then EXPIRE Key TTL, unless FenceKey
// holds a time (microseconds since 1970) after Started: the attempt began
// before the counter was last reset, and its outcome belongs to a history
// that no longer exists. FenceKey must share Key's hash slot (see
// breaker.FenceKey) so that the check and the increment are one script on
// Redis Cluster too.
type Counter struct {
	Key      string
	Field    string
	TTL      time.Duration
	FenceKey string
	Started  time.Time
}

// writeScript pushes one entry on the request list (and the error list for
// failures), trims and refreshes them, and increments the optional
// counter: all of one attempt's writes in a single command on a single
// node. On Redis Cluster it is sent without the counter, and counterScript
// increments the counter in the counter's slot.
//
// KEYS: request list, error list[, counter hash, counter fence]
// ARGV: entry, list TTL seconds, max entries, "1" for a failure,
//
//	counter field ("" for none), counter TTL seconds,
//	attempt start (microseconds since 1970)
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
  local fence = redis.call('GET', KEYS[4])
  if not fence or tonumber(fence) <= tonumber(ARGV[7]) then
    redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
    redis.call('EXPIRE', KEYS[3], ARGV[6])
  end
end
return 1
`

// counterScript is writeScript's counter part alone, for Redis Cluster,
// where the counter's slot is not the request lists'.
//
// KEYS: counter hash, counter fence
// ARGV: counter field, counter TTL seconds, attempt start (microseconds)
const counterScript = `
local fence = redis.call('GET', KEYS[2])
if not fence or tonumber(fence) <= tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
`

// Writer writes each attempt's entry, and the breaker counter with it, as
// one EVALSHA of a small script on a single node, or as two (the request
// lists' slot and the counter's) on Redis Cluster. Concurrent writes are
// batched: a flusher sends every write waiting at that moment in one
// pipelined round trip (on a cluster, one round trip per node, run in
// parallel), so under load the request log costs a fraction of a round trip
// per delivery and no waiting at all when idle (a batch is sent as soon as
// the previous one is done). Write returns once its own entry and counter
// are in Redis.
type Writer struct {
	rdb     redis.Cmdable
	split   bool
	script  *redis.Script
	counter *redis.Script
	queue   chan *write
	done    chan struct{}
	closed  sync.Once
}

// WriterOptions configures a Writer. The zero value suits a single node
// or a Sentinel-managed master.
type WriterOptions struct {
	// SplitBySlot sends the counter as a script of its own, so that no
	// command names keys of two hash slots: what Redis Cluster requires.
	// NewWriter sets it for a *redis.ClusterClient; set it for a cluster
	// client that NewWriter cannot recognise (one wrapped in another type).
	SplitBySlot bool
}

// write is one queued Write and the channel its result goes back on.
type write struct {
	calls  []call
	appID  int64
	result chan error
}

// call is one script call of a write.
type call struct {
	script *redis.Script
	keys   []string
	args   []any
}

// maxBatch bounds the writes of one round trip.
const maxBatch = 256

// NewWriter returns a Writer on rdb and starts its flusher; Close stops it.
// It splits writes by hash slot when rdb is a *redis.ClusterClient.
func NewWriter(rdb redis.Cmdable) *Writer {
	_, cluster := rdb.(*redis.ClusterClient)
	return NewWriterOptions(rdb, WriterOptions{SplitBySlot: cluster})
}

// NewWriterOptions is NewWriter with explicit options.
func NewWriterOptions(rdb redis.Cmdable, opts WriterOptions) *Writer {
	w := &Writer{rdb: rdb, split: opts.SplitBySlot, script: redis.NewScript(writeScript),
		counter: redis.NewScript(counterScript), queue: make(chan *write, maxBatch), done: make(chan struct{})}
	go w.flush()
	return w
}

// Write records e for appID and event, and increments c when it is not nil.
// It returns when the entry is written, or when ctx ends (the write may then
// still happen).
func (w *Writer) Write(ctx context.Context, appID int64, event string, e Entry, c *Counter) error {
	b, err := Encode(e)
	if err != nil {
		return err
	}
	keys := make([]string, 2, 4)
	keys[0], keys[1] = RequestKey(appID, event), ErrorKey(appID, event)
	failure, field, counterTTL, started := "0", "", "0", int64(0)
	if IsFailure(e.ResponseCode) {
		failure = "1"
	}
	wr := &write{appID: appID, result: make(chan error, 1), calls: make([]call, 1, 2)}
	if c != nil {
		field, counterTTL = c.Field, strconv.FormatInt(int64(c.TTL/time.Second), 10)
		started = c.Started.UnixMicro()
		if w.split {
			wr.calls = append(wr.calls, call{script: w.counter, keys: []string{c.Key, c.FenceKey},
				args: []any{field, counterTTL, started}})
			field = ""
		} else {
			keys = append(keys, c.Key, c.FenceKey)
		}
	}
	wr.calls[0] = call{script: w.script, keys: keys,
		args: []any{b, int64(TTL / time.Second), MaxEntries, failure, field, counterTTL, started}}
	select {
	case w.queue <- wr:
	case <-ctx.Done():
		return fmt.Errorf("write request log of app %d: %w", appID, ctx.Err())
	}
	select {
	case err := <-wr.result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("write request log of app %d: %w", appID, ctx.Err())
	}
}

// Encode returns e as the JSON the request log stores: without HTML
// escaping (as Python's json.dumps writes it), at most MaxEntryBytes long.
// An entry built by NewEntry always fits; a larger one (built by hand) is
// stored without its headers and bodies and with its URL cut further, so
// that nothing bigger ever reaches Redis.
func Encode(e Entry) ([]byte, error) {
	b, err := encode(e)
	if err != nil || len(b) <= MaxEntryBytes {
		return b, err
	}
	e.RequestHeaders, e.RequestBody, e.ResponseBody = nil, nil, nil
	e.WebhookURL = Cut(e.WebhookURL, MaxURLBytes, MaxURLBytes)
	if e.ErrorID != nil && !PlausibleEventID(*e.ErrorID) || e.ProjectID != nil && !PlausibleProjectID(*e.ProjectID) {
		e.ErrorID, e.ProjectID = nil, nil
	}
	e.Date = Cut(e.Date, len(DateLayout), len(DateLayout))
	return encode(e)
}

func encode(e Entry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode request log entry: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Close waits until every queued write is flushed and stops the flusher.
// No Write may start after Close; Close may be called again.
func (w *Writer) Close() {
	w.closed.Do(func() { close(w.queue) })
	<-w.done
}

// flush sends batches until the queue is closed and drained.
func (w *Writer) flush() {
	defer close(w.done)
	batch := make([]*write, 0, maxBatch)
	for first := range w.queue {
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxBatch {
			select {
			case wr, ok := <-w.queue:
				if !ok {
					break more
				}
				batch = append(batch, wr)
			default:
				break more
			}
		}
		w.send(batch)
	}
}

// send runs one batch in one pipelined round trip (on a cluster, one per
// node, which the ClusterClient's pipeline sends in parallel). A script
// missing from Redis (restarted, failed over, or SCRIPT FLUSH) is loaded
// and the failed calls sent again with EVAL.
func (w *Writer) send(batch []*write) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var calls []call
	for _, wr := range batch {
		calls = append(calls, wr.calls...)
	}
	cmds := make([]*redis.Cmd, len(calls))
	pipe := w.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	var retry []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe := w.rdb.Pipeline()
		for _, i := range retry {
			cmds[i] = calls[i].script.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	next := 0
	for _, wr := range batch {
		var err error
		for range wr.calls {
			if err == nil {
				err = cmds[next].Err()
			}
			next++
		}
		if err != nil {
			wr.result <- fmt.Errorf("write request log of app %d: %w", wr.appID, err)
			continue
		}
		wr.result <- nil
	}
}
