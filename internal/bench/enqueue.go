package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// enqueueAll enqueues tasks 0..n-1 built by makeTask with workers
// concurrent Enqueue calls on one pooled client. asynq has no batch
// enqueue (each task is one script call), so concurrency is what keeps
// Redis busy; how fast this goes is not a figure.
func enqueueAll(ctx context.Context, client *asynq.Client, n, workers int, makeTask func(i int) (*asynq.Task, error)) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t, err := makeTask(i)
				if err == nil {
					_, err = client.EnqueueContext(ctx, t)
				}
				if err != nil {
					errs <- fmt.Errorf("enqueue task %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// offered is what offerRate achieved.
type offered struct {
	sent    int
	elapsed time.Duration
	// lagMax is the most a send started after its scheduled time.
	lagMax time.Duration
}

// offerRate enqueues perSecond tasks a second for d, on schedule: task i is
// due at start + i/perSecond, and workers send what is due. makeTask gets
// the enqueue time in Unix ns to carry in the payload, taken right before
// the Enqueue call so latency includes the enqueue itself.
func offerRate(ctx context.Context, client *asynq.Client, perSecond int, d time.Duration, workers int,
	makeTask func(i int, enqueuedAtNs int64) (*asynq.Task, error)) (offered, error) {
	total := int(float64(perSecond) * d.Seconds())
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, total)
	var lagMax atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				now := time.Now()
				lag := int64(now.Sub(j.due))
				for cur := lagMax.Load(); lag > cur && !lagMax.CompareAndSwap(cur, lag); cur = lagMax.Load() {
				}
				t, err := makeTask(j.i, now.UnixNano())
				if err == nil {
					_, err = client.EnqueueContext(ctx, t)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("enqueue task %d: %w", j.i, err):
					default:
					}
					return
				}
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(perSecond)
	ticker := time.NewTicker(time.Millisecond)
	sent := 0
	for sent < total && ctx.Err() == nil {
		elapsed := time.Since(start)
		due := min(total, int(elapsed/interval)+1)
		for ; sent < due; sent++ {
			jobs <- job{i: sent, due: start.Add(time.Duration(sent) * interval)}
		}
		if sent < total {
			<-ticker.C
		}
	}
	ticker.Stop()
	close(jobs)
	wg.Wait()
	res := offered{sent: sent, elapsed: time.Since(start), lagMax: time.Duration(lagMax.Load())}
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	return res, ctx.Err()
}
