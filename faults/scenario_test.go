//go:build faults

package faults

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookworker/hookworker/internal/testenv"
)

// deliveryScenario is one run of many tasks through a real worker process
// with a fault injected part-way.
type deliveryScenario struct {
	name string
	// tasks are enqueued before the worker starts.
	tasks int
	// trigger: the fault is injected once this many tasks reached the receiver.
	trigger int
	// latency is the receiver's answer time.
	latency time.Duration
	// databaseURL returns DATABASE_URL; nil means a testenv schema.
	databaseURL func(t *testing.T) string
	// env overrides the rig's worker environment.
	env []string
	// fault injects the fault while worker w runs; it returns the worker
	// that finishes the run (w or a new one), when the fault ended, and
	// extra figures for the summary line.
	fault func(t *testing.T, r *rig, w *proc) (next *proc, ended time.Time, figures string)
	// timeout bounds the whole run after the fault.
	timeout time.Duration
}

// scenarioResult are the figures of a run.
type scenarioResult struct {
	lost, duplicated, leftAtFault int
	recovery                      time.Duration
}

// run executes the scenario, prints its one-line summary and returns the
// figures; it fails the test if a task is lost, archived, or delivered
// under two different delivery ids.
func (sc deliveryScenario) run(t *testing.T) scenarioResult {
	t.Helper()
	setup := time.Now()
	bin := buildBinaries(t)
	t.Logf("%s: binaries built in %.1fs", sc.name, time.Since(setup).Seconds())
	dbURL := ""
	if sc.databaseURL != nil {
		dbURL = sc.databaseURL(t)
	} else {
		dbURL = testenv.NewPostgres(t).URL
	}
	r := newRig(t, bin, "", dbURL, sc.env...)
	rc := newCountingReceiver(t)
	rc.latency.Store(int64(sc.latency))
	inst := r.seed(rc.URL, "--status", "published")
	ks := keys(sc.name, sc.tasks)
	r.enqueue(inst, ks)
	t.Logf("%s: %d tasks enqueued, setup took %.1fs", sc.name, sc.tasks, time.Since(setup).Seconds())

	w := r.startWorker(sc.name + "-worker")
	start := time.Now()
	waitUntil(t, 2*time.Minute, func() bool { return rc.counts().distinct >= sc.trigger || w.exited() },
		"%s: %d tasks were never delivered", sc.name, sc.trigger)
	if w.exited() {
		t.Fatalf("worker exited early: %v\n%s", w.err, w.tail(30))
	}
	left := sc.tasks - rc.counts().distinct
	w, ended, figures := sc.fault(t, r, w)

	deadline := ended.Add(sc.timeout)
	var done time.Time
	for {
		if rc.missing(ks) == 0 && r.queue().unfinished() == 0 {
			done = time.Now()
			break
		}
		if time.Now().After(deadline) || w.exited() {
			c := rc.counts()
			t.Fatalf("%s: not finished %s after the fault: lost=%d delivered=%d queue=%+v worker exited=%v\n%s",
				sc.name, sc.timeout, rc.missing(ks), c.distinct, r.queue(), w.exited(), w.tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := rc.counts()
	res := scenarioResult{lost: rc.missing(ks), duplicated: c.total - c.distinct, leftAtFault: left, recovery: done.Sub(ended)}
	q := r.queue()
	t.Logf("FAULTS %s: tasks=%d lost=%d duplicated=%d recovery=%.1fs left_at_fault=%d archived=%d total=%.1fs%s",
		sc.name, sc.tasks, res.lost, res.duplicated, res.recovery.Seconds(), left, q.archived, done.Sub(start).Seconds(), figures)

	if res.lost != 0 {
		t.Errorf("%d tasks lost", res.lost)
	}
	if q.archived != 0 {
		t.Errorf("%d tasks archived", q.archived)
	}
	if c.mixedIDs != 0 || c.distinctIDs != c.distinct {
		t.Errorf("delivery ids: %d tasks seen under two ids, %d ids for %d tasks", c.mixedIDs, c.distinctIDs, c.distinct)
	}
	w.signal(syscall.SIGTERM)
	if err := w.wait(30 * time.Second); err != nil {
		t.Errorf("worker exit after SIGTERM: %v\n%s", err, w.tail(30))
	}
	if out := w.output(); strings.Contains(out, "panic") || strings.Contains(out, "DATA RACE") {
		t.Errorf("worker output has a panic:\n%s", w.tail(60))
	}
	return res
}
