package webhook_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookworker/hookworker/internal/bench/fixture"
	"github.com/hookworker/hookworker/webhook"
)

// BenchmarkAppendBodyAndSign measures what every delivery does before its
// POST: build the body of a realistic ~2 KB issue.created webhook into a
// reused buffer and sign it.
func BenchmarkAppendBodyAndSign(b *testing.B) {
	data := json.RawMessage(fixture.IssueData(4521337, 0))
	secret := "5b0a8ac4c6a1f7e7d0b3e4a9c2f1d8e6b7a5c3d9e0f1a2b3c4d5e6f7a8b9c0d1"
	var buf bytes.Buffer
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf.Reset()
		if err := webhook.AppendBody(&buf, "created", "b0d9c1f4-5c3e-4a6f-9d8e-2f1a0b3c4d5e", data, nil); err != nil {
			b.Fatal(err)
		}
		if sig := webhook.Sign(secret, buf.Bytes()); len(sig) != 64 {
			b.Fatalf("signature %q is not 64 hex digits", sig)
		}
	}
}

// BenchmarkAppendBody isolates body building (json.Compact of data).
func BenchmarkAppendBody(b *testing.B) {
	data := json.RawMessage(fixture.IssueData(4521337, 0))
	var buf bytes.Buffer
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf.Reset()
		if err := webhook.AppendBody(&buf, "created", "b0d9c1f4-5c3e-4a6f-9d8e-2f1a0b3c4d5e", data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign isolates the HMAC-SHA256 signature of a ~2 KB body.
func BenchmarkSign(b *testing.B) {
	var buf bytes.Buffer
	if err := webhook.AppendBody(&buf, "created", "b0d9c1f4-5c3e-4a6f-9d8e-2f1a0b3c4d5e", fixture.IssueData(4521337, 0), nil); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if sig := webhook.Sign("secret", body); len(sig) != 64 {
			b.Fatalf("signature %q is not 64 hex digits", sig)
		}
	}
}

// BenchmarkHeaders measures the headers of one attempt for a ~2 KB body:
// Sentry's alone (WEBHOOK_STANDARD_HEADERS=false) and with the Standard
// Webhooks ones, whose signature is one more HMAC over the body.
func BenchmarkHeaders(b *testing.B) {
	var buf bytes.Buffer
	if err := webhook.AppendBody(&buf, "created", "b0d9c1f4-5c3e-4a6f-9d8e-2f1a0b3c4d5e", fixture.IssueData(4521337, 0), nil); err != nil {
		b.Fatal(err)
	}
	r := webhook.Request{URL: "http://127.0.0.1/hook", Resource: "issue", Body: buf.Bytes(),
		Secret:     "5b0a8ac4c6a1f7e7d0b3e4a9c2f1d8e6b7a5c3d9e0f1a2b3c4d5e6f7a8b9c0d1",
		DeliveryID: "0f8c2b1e-7d4a-4c3b-9e2f-1a0b3c4d5e6f", Now: time.Now()}
	for _, standard := range []bool{false, true} {
		name := "sentry"
		if standard {
			name = "sentry+standard"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(r.Body)))
			for b.Loop() {
				if h := webhook.Headers(r, "hookworker/1", standard); len(h) < 7 {
					b.Fatal("headers missing")
				}
			}
		})
	}
}
