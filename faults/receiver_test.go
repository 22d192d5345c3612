//go:build faults

package faults

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingReceiver is a webhook receiver on loopback that counts, for every
// task, how many requests reached it: tasks are told apart by the data the
// test put in them ({"issue":{"id":"<key>"}}), and the delivery ids
// (Hookworker-Delivery-ID, the asynq task id) are counted too, to check that
// every retry of a task carries the same one.
type countingReceiver struct {
	URL     string
	latency atomic.Int64 // time.Duration before answering 200

	mu      sync.Mutex
	perKey  map[string]int
	perID   map[string]int
	keyToID map[string]string
	mixedID int // keys seen with two different delivery ids
	total   int
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	t.Helper()
	rc := &countingReceiver{perKey: map[string]int{}, perID: map[string]int{}, keyToID: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	rc.URL = "http://" + ln.Addr().String()
	return rc
}

// ServeHTTP records one delivery and answers 200 after the latency.
func (rc *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	key := dataKey(body)
	id := r.Header.Get("Hookworker-Delivery-ID")
	rc.mu.Lock()
	rc.total++
	rc.perKey[key]++
	rc.perID[id]++
	if prev, ok := rc.keyToID[key]; ok && prev != id {
		rc.mixedID++
	}
	rc.keyToID[key] = id
	rc.mu.Unlock()
	if d := time.Duration(rc.latency.Load()); d > 0 {
		time.Sleep(d) // the receiver's own latency, part of the scenario
	}
	w.WriteHeader(http.StatusOK)
}

// dataKey returns data.issue.id of a webhook body ("" if absent).
func dataKey(body []byte) string {
	var b struct {
		Data struct {
			Issue struct {
				ID string `json:"id"`
			} `json:"issue"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &b)
	return b.Data.Issue.ID
}

// receiverCounts is a snapshot of a countingReceiver.
type receiverCounts struct {
	distinct    int // tasks (keys) that reached the receiver at least once
	distinctIDs int // distinct delivery ids
	total       int // requests
	mixedIDs    int // keys seen under more than one delivery id
}

func (rc *countingReceiver) counts() receiverCounts {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return receiverCounts{distinct: len(rc.perKey), distinctIDs: len(rc.perID), total: rc.total, mixedIDs: rc.mixedID}
}

// missing returns how many of keys never reached the receiver.
func (rc *countingReceiver) missing(keys []string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, k := range keys {
		if rc.perKey[k] == 0 {
			n++
		}
	}
	return n
}
