//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/tasks"
)

// TestFaultUpgradeReceivers runs a worker at its default concurrency and
// timeout with 20 apps whose receivers answer 101 Switching Protocols and
// hold the connection, and one healthy app fed a task every 10 ms. It
// reports the healthy app's enqueue→receipt latency and the worker's
// goroutine count before, during and after the attack, and fails when the
// healthy app waits for seconds or goroutines do not return to about their
// idle count.
func TestFaultUpgradeReceivers(t *testing.T) {
	const hostileApps, perApp, healthyTasks = 20, 50, 300
	bin := buildBinaries(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r := newRig(t, bin, "", testenv.NewPostgres(t).URL,
		"WORKER_CONCURRENCY=500", "WEBHOOK_TIMEOUT=1s", "WEBHOOK_MAX_RETRIES=3", "HTTP_ADDR="+addr)

	stop := make(chan struct{})
	upgrade := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = buf.Flush()
		go func() { <-stop; conn.Close() }()
		_, _ = io.Copy(io.Discard, conn)
	})}
	upgradeURL := serve(t, upgrade)

	var mu sync.Mutex
	var latencies []time.Duration
	healthy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Data struct {
				Issue struct {
					Sent int64 `json:"sent"`
				} `json:"issue"`
			} `json:"data"`
		}
		_ = json.NewDecoder(req.Body).Decode(&body)
		mu.Lock()
		latencies = append(latencies, time.Since(time.Unix(0, body.Data.Issue.Sent)))
		mu.Unlock()
	})}
	healthyURL := serve(t, healthy)
	t.Cleanup(func() { close(stop); upgrade.Close(); healthy.Close() })

	var hostile []int64
	for i := 0; i < hostileApps; i++ {
		hostile = append(hostile, r.seed(upgradeURL+"/hook", "--status", "published"))
	}
	good := r.seed(healthyURL+"/hook", "--status", "published")

	w := r.startWorker("upgrade-worker")
	waitUntil(t, 30*time.Second, func() bool { return goroutines(addr) > 0 }, "ops server never answered")
	client := asynq.NewClientFromRedisClient(r.rdb)
	defer client.Close()
	enqueueHealthy := func(i int) {
		data := fmt.Sprintf(`{"issue":{"id":"h%d","sent":%d}}`, i, time.Now().UnixNano())
		task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: good, Event: "issue.created", Data: json.RawMessage(data)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	received := func() int { mu.Lock(); defer mu.Unlock(); return len(latencies) }
	// Warm up: one healthy delivery, then a goroutine count that holds
	// still for a second is the baseline.
	enqueueHealthy(-1)
	waitUntil(t, 30*time.Second, func() bool { return received() == 1 }, "warm-up delivery never arrived")
	idle := 0
	waitUntil(t, 30*time.Second, func() bool {
		a := goroutines(addr)
		time.Sleep(time.Second)
		idle = goroutines(addr)
		return a == idle
	}, "goroutine count never settled")
	mu.Lock()
	latencies = nil
	mu.Unlock()

	for _, inst := range hostile {
		r.enqueue(inst, keys(fmt.Sprint("up", inst), perApp))
	}
	peak := 0
	for i := 0; i < healthyTasks; i++ {
		enqueueHealthy(i)
		if i%50 == 0 {
			peak = max(peak, goroutines(addr))
		}
		time.Sleep(10 * time.Millisecond) // the producer's pace, not synchronisation
	}
	waitUntil(t, 3*time.Minute, func() bool {
		q := r.queue()
		return w.exited() || (q.unfinished() == 0 && q.archived == hostileApps*perApp)
	}, "tasks did not reach their end states: %v (want %d archived); the worker's log ends:\n%v", queueNow{r}, hostileApps*perApp, tailNow{w})
	if w.exited() {
		t.Fatalf("worker exited: %v\n%s", w.err, w.tail(30))
	}
	var after int
	deadline := time.Now().Add(30 * time.Second)
	for after = goroutines(addr); after > idle+10 && time.Now().Before(deadline); after = goroutines(addr) {
		time.Sleep(100 * time.Millisecond)
	}
	if after > idle+10 {
		t.Fatalf("goroutines did not come back: idle %d, now %d:\n%s", idle, after, goroutineDump(addr))
	}

	mu.Lock()
	lat := slices.Clone(latencies)
	mu.Unlock()
	slices.Sort(lat)
	if len(lat) != healthyTasks {
		t.Fatalf("healthy receiver got %d deliveries, want %d", len(lat), healthyTasks)
	}
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("FAULTS upgrade-receivers: hostile_apps=%d hostile_tasks=%d healthy p50=%.1fms p99=%.1fms max=%.1fms goroutines idle=%d peak=%d after=%d",
		hostileApps, hostileApps*perApp, ms(p50), ms(p99), ms(lat[len(lat)-1]), idle, peak, after)
	if p99 > 2*time.Second {
		t.Errorf("healthy p99 %v: the 101 receivers held the worker", p99)
	}
}

// serve starts srv on a loopback port and returns its URL.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv.Addr = addr
	go srv.ListenAndServe() //nolint:errcheck // ends with Close
	waitUntil(t, 10*time.Second, func() bool {
		c, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/")
		if err == nil {
			c.Body.Close()
		}
		return err == nil || !strings.Contains(err.Error(), "refused")
	}, "receiver did not start")
	return "http://" + addr
}

// goroutines reads the worker's goroutine count from its pprof endpoint (0
// when it does not answer), leaving out the two goroutines of each idle
// keep-alive connection (net/http's persistConn loops): those are bounded
// by the pool and closed after 90 s idle, and the healthy app keeps some.
func goroutines(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/goroutine?debug=1", nil)
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0
	}
	total := 0
	// Blocks are "<count> @ <pcs>" followed by "#\t<pc>\t<func>" lines.
	for _, block := range strings.Split(string(b), "\n\n") {
		first, rest, _ := strings.Cut(block, "\n")
		count, _, ok := strings.Cut(first, " @ ")
		n, err := strconv.Atoi(count)
		if !ok || err != nil {
			continue
		}
		if strings.Contains(rest, "net/http.(*persistConn).readLoop") || strings.Contains(rest, "net/http.(*persistConn).writeLoop") {
			continue
		}
		total += n
	}
	return total
}

// goroutineDump returns the worker's goroutine profile, for a failure.
func goroutineDump(addr string) string {
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
