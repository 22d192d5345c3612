package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// tally records when each of an expected number of events happened (tasks
// handled, webhooks received) and, optionally, a latency per event. It is
// safe for concurrent use; readers wait on done, which closes once every
// expected event is recorded, so every slot write happens before it.
type tally struct {
	expect    int
	slots     atomic.Int64 // events seen, including extras beyond expect
	recorded  atomic.Int64 // slots fully written
	at        []int64      // Unix ns of each event
	latency   []int64      // ns, or -1 when the event carried no stamp
	done      chan struct{}
	closeOnce sync.Once
}

func newTally(expect int) *tally {
	t := &tally{expect: expect, at: make([]int64, expect), latency: make([]int64, expect), done: make(chan struct{})}
	if expect == 0 {
		close(t.done)
	}
	return t
}

// add records one event at now, with latency (negative: none).
func (t *tally) add(now time.Time, latency time.Duration) {
	slot := t.slots.Add(1) - 1
	if slot >= int64(t.expect) {
		return
	}
	t.at[slot] = now.UnixNano()
	t.latency[slot] = int64(latency)
	if t.recorded.Add(1) == int64(t.expect) {
		t.closeOnce.Do(func() { close(t.done) })
	}
}

// seen returns how many events arrived so far (extras included).
func (t *tally) seen() int { return int(t.slots.Load()) }

// wait blocks until every expected event is recorded, failed returns an
// error (a process died), ctx ends, or timeout passes.
func (t *tally) wait(ctx context.Context, timeout time.Duration, failed <-chan error) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return nil
	case err := <-failed:
		return fmt.Errorf("after %d of %d events: %w", t.seen(), t.expect, err)
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("timed out after %s with %d of %d events", timeout, t.seen(), t.expect)
	}
}

// span returns the time from the first to the last recorded event; call it
// after wait succeeded.
func (t *tally) span() time.Duration {
	if t.expect == 0 {
		return 0
	}
	lo, hi := t.at[0], t.at[0]
	for _, v := range t.at[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return time.Duration(hi - lo)
}

// latencies returns the recorded latencies, skipping events without one;
// call it after wait succeeded.
func (t *tally) latencies() []time.Duration {
	out := make([]time.Duration, 0, len(t.latency))
	for _, v := range t.latency {
		if v >= 0 {
			out = append(out, time.Duration(v))
		}
	}
	return out
}

// bounds returns the times of the first and the last recorded event; call
// it after wait succeeded.
func (t *tally) bounds() (first, last time.Time) {
	if t.expect == 0 {
		return time.Time{}, time.Time{}
	}
	lo, hi := t.at[0], t.at[0]
	for _, v := range t.at[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return time.Unix(0, lo), time.Unix(0, hi)
}
