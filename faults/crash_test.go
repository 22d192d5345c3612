//go:build faults

package faults

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestFaultSIGKILL kills the worker (SIGKILL) with deliveries in flight and
// starts a new one: every task is delivered at least once. The killed
// worker's in-flight tasks come back only when their asynq lease (30 s) has
// expired and the recoverer (every minute) runs, and they are delivered
// again if the receiver already had them (duplicates, which receivers
// de-duplicate with Hookworker-Delivery-ID).
func TestFaultSIGKILL(t *testing.T) {
	deliveryScenario{
		name: "sigkill", tasks: 5000, trigger: 1000, latency: 5 * time.Millisecond,
		fault: func(t *testing.T, r *rig, w *proc) (*proc, time.Time, string) {
			w.signal(syscall.SIGKILL)
			_ = w.wait(10 * time.Second)
			q := r.queue()
			next := r.startWorker("sigkill-worker-2")
			return next, time.Now(), fmt.Sprintf(" active_at_kill=%d", q.active)
		},
		timeout: 4 * time.Minute,
	}.run(t)
}

// TestFaultSIGTERM stops the worker gracefully (SIGTERM) with deliveries in
// flight and starts a new one: the in-flight deliveries finish within
// SHUTDOWN_TIMEOUT, nothing is lost and nothing is delivered twice.
func TestFaultSIGTERM(t *testing.T) {
	res := deliveryScenario{
		name: "sigterm", tasks: 5000, trigger: 1000, latency: 5 * time.Millisecond,
		fault: func(t *testing.T, r *rig, w *proc) (*proc, time.Time, string) {
			stopAt := time.Now()
			w.signal(syscall.SIGTERM)
			if err := w.wait(30 * time.Second); err != nil {
				t.Errorf("worker exit after SIGTERM: %v\n%s", err, w.tail(30))
			}
			stopped := time.Since(stopAt)
			q := r.queue()
			if q.active != 0 {
				t.Errorf("%d tasks left active after a graceful stop", q.active)
			}
			next := r.startWorker("sigterm-worker-2")
			return next, time.Now(), fmt.Sprintf(" shutdown=%.1fs", stopped.Seconds())
		},
		timeout: 2 * time.Minute,
	}.run(t)
	if res.duplicated != 0 {
		t.Errorf("a graceful stop delivered %d tasks twice", res.duplicated)
	}
}
