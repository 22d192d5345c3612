package requestlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/bench/fixture"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/requestlog"
)

// benchAttempt returns an attempt as the deliverer builds it, with the
// headers a signed webhook carries and a ~2 KB body.
func benchAttempt(code int) requestlog.Attempt {
	body := append(append([]byte(`{"action":"created","installation":{"uuid":"b0d9c1f4-5c3e-4a6f-9d8e-2f1a0b3c4d5e"},"data":`),
		fixture.IssueData(4521337, 0)...), `,"actor":{"type":"application","id":"sentry","name":"Sentry"}}`...)
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Request-ID", "9f1c3a7e2b5d4c6f8a0e1d2c3b4a5f6e")
	hdr.Set("Sentry-Hook-Resource", "issue")
	hdr.Set("Sentry-Hook-Timestamp", "1718092800")
	hdr.Set("Sentry-Hook-Signature", "0f3c6b1e9d2a4c7f8e5b3a1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e")
	hdr.Set("User-Agent", "hookworker/dev")
	return requestlog.Attempt{
		Time: time.Date(2024, 6, 11, 9, 12, 44, 513216000, time.UTC), ResponseCode: code,
		WebhookURL: "https://hooks.example.com/sentry", OrganizationID: 1, Internal: true,
		RequestHeader: hdr, RequestBody: body, ResponseHeader: http.Header{"Content-Type": {"text/plain"}},
		ResponseBody: bytes.Repeat([]byte("x"), 200),
	}
}

// benchmarkEntry measures NewEntry and its JSON encoding: the CPU of one
// request-log write besides its single Redis command.
func benchmarkEntry(b *testing.B, code int) {
	a := benchAttempt(code)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(requestlog.NewEntry(a)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEntrySuccess is the write of a delivered webhook (request list only).
func BenchmarkEntrySuccess(b *testing.B) { benchmarkEntry(b, http.StatusOK) }

// BenchmarkEntryFailure is the write of a failed attempt: headers and
// bodies cut to 1,024 characters, on both the request and error lists.
func BenchmarkEntryFailure(b *testing.B) { benchmarkEntry(b, http.StatusInternalServerError) }

// BenchmarkWriter measures Writer.Write of a counted failure (both lists
// and the breaker counter) on a single node and on a 3-master cluster (two
// scripts a write, pipelined per node), with one writer (the latency of an
// idle worker's write) and with 64 (a busy worker: writes are batched).
// Apps and organizations vary so the keys spread over the slots. The
// single node needs TEST_REDIS_URL (scripts/test.sh sets it); the cluster
// is started by the benchmark.
func BenchmarkWriter(b *testing.B) {
	for _, topo := range topologies {
		b.Run(topo.name, func(b *testing.B) {
			if topo.name == "single" && testenv.RedisBaseURL() == "" {
				b.Skip("TEST_REDIS_URL is not set: run with scripts/test.sh")
			}
			rdb := topo.client(b)
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			brk := breaker.New(rdb, breaker.Options{Now: func() time.Time { return now }})
			e := requestlog.NewEntry(benchAttempt(http.StatusNotFound))
			for _, writers := range []int{1, 64} {
				b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
					w := requestlog.NewWriter(rdb)
					defer w.Close()
					ctx := context.Background()
					var next atomic.Int64
					var wg sync.WaitGroup
					b.ReportAllocs()
					b.ResetTimer()
					for range writers {
						wg.Go(func() {
							for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
								app := i%64 + 1
								inc, _ := brk.Increment(app, i%7+1, breaker.Error, now)
								c := requestlog.Counter(inc)
								if err := w.Write(ctx, app, "issue.created", e, &c); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
				})
			}
		})
	}
}
