package requestlog_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookworker/hookworker/internal/bench/fixture"
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
