package main

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/webhook"
)

// allowLoopback lets the sender reach the test server.
type allowLoopback struct{}

func (allowLoopback) CheckURL(*url.URL) error                       { return nil }
func (allowLoopback) Control(string, string, syscall.RawConn) error { return nil }

// The receiver checks both schemes on real deliveries and says which
// passed.
func TestReceiverVerdicts(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef"
	var out bytes.Buffer
	now := time.Now()
	srv := httptest.NewServer(newHandler(secret, http.StatusAccepted, log.New(&out, "", 0), func() time.Time { return now }))
	t.Cleanup(srv.Close)
	body := []byte(`{"action":"created","installation":{"uuid":"u"},"data":{},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`)

	send := func(o webhook.Options, r webhook.Request) string {
		t.Helper()
		out.Reset()
		o.Guard = allowLoopback{}
		s := webhook.NewSender(o)
		t.Cleanup(s.Close)
		r.URL, r.Resource, r.DeliveryID = srv.URL+"/hook", "issue", "d-1"
		resp, err := s.Send(context.Background(), r)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		return out.String()
	}

	got := send(webhook.Options{}, webhook.Request{Body: body, Secret: secret, Now: now})
	require.Contains(t, got, "delivery=d-1 signature=valid standard=valid\n")

	got = send(webhook.Options{}, webhook.Request{Body: body, Secret: "another secret", Now: now})
	require.Contains(t, got, "signature=INVALID standard=INVALID (no webhook-signature matches)")

	got = send(webhook.Options{}, webhook.Request{Body: body, Secret: secret, Now: now.Add(-time.Hour)})
	require.Contains(t, got, "signature=valid standard=INVALID (webhook-timestamp is outside the tolerance")

	got = send(webhook.Options{OmitStandardHeaders: true}, webhook.Request{Body: body, Secret: secret, Now: now})
	require.Contains(t, got, "signature=valid standard=absent")
}
