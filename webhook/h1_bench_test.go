package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/webhook"
)

// BenchmarkSend measures one attempt, client and loopback server together:
// a ~1 KiB body POSTed to a local httptest server that answers 200 "ok"
// over a kept-alive connection.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	s := webhook.NewSender(webhook.Options{Timeout: 5 * time.Second, Guard: netguard.New(true, nil), UserAgent: "hookworker/bench"})
	defer s.Close()
	r := webhook.Request{URL: srv.URL + "/hook", Resource: "issue", Body: []byte(`{"data":"` + strings.Repeat("x", 1000) + `"}`),
		Secret: "secret", DeliveryID: "0f8c2b1e-7d4a-4c3b-9e2f-1a0b3c4d5e6f"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Send(ctx, r)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("send: %v %+v", err, resp)
		}
	}
}
