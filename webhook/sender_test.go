package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/netguard"
)

// gotRequest is what a test server saw of one request.
type gotRequest struct {
	method string
	header http.Header
	body   []byte
}

// testServer is a loopback HTTP server that records requests and answers
// with handle.
type testServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []gotRequest
}

func newTestServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, gotRequest{method: r.Method, header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) requests() []gotRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotRequest(nil), s.reqs...)
}

// loopbackSender is a Sender whose guard lets loopback through (tests only
// ever talk to loopback).
func loopbackSender(t *testing.T, timeout time.Duration) *Sender {
	t.Helper()
	s := NewSender(Options{Timeout: timeout, Guard: netguard.New(true, nil), UserAgent: "hookworker/test"})
	t.Cleanup(s.Close)
	return s
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestSendPostsSignedBody(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Sentry-Hook-Error", "e1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "thanks")
	})
	s := loopbackSender(t, time.Second)
	now := time.Now()
	body := []byte(knownBody2)
	resp, err := s.Send(context.Background(), Request{URL: srv.URL + "/hook?x=1", Resource: "issue", Body: body,
		Secret: knownSecret2, DeliveryID: "d1", Now: now})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "thanks", string(resp.Body))
	require.Equal(t, "e1", resp.Header.Get("Sentry-Hook-Error"))
	require.Positive(t, resp.Duration)

	reqs := srv.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	require.Equal(t, http.MethodPost, got.method)
	require.Equal(t, knownBody2, string(got.body))
	require.Equal(t, knownSignature2, got.header.Get("Sentry-Hook-Signature"))
	require.True(t, Verify(knownSecret2, got.body, got.header.Get("Sentry-Hook-Signature")))
	require.Equal(t, "hookworker/test", got.header.Get("User-Agent"))
	// What the request log records is what was sent.
	for k, v := range resp.RequestHeader {
		require.Equal(t, v, got.header.Values(k), k)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	other := newTestServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/elsewhere", code)
		})
		resp, err := loopbackSender(t, time.Second).Send(context.Background(),
			Request{URL: srv.URL, Resource: "issue", Body: []byte("{}"), Secret: "s"})
		require.NoError(t, err)
		require.Equal(t, code, resp.StatusCode)
		require.Len(t, srv.requests(), 1)
	}
	require.Empty(t, other.requests(), "a redirect was followed")
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newTestServer(t, func(http.ResponseWriter, *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	resp, err := loopbackSender(t, 100*time.Millisecond).Send(context.Background(),
		Request{URL: srv.URL, Resource: "issue", Body: []byte("{}"), Secret: "s"})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	require.True(t, te.Timeout, "%v", err)
	require.Contains(t, err.Error(), "timed out")
	require.NotContains(t, err.Error(), srv.URL, "the URL is logged apart, not in every error")
	require.Zero(t, resp.StatusCode)
	require.NotEmpty(t, resp.RequestHeader.Get("Sentry-Hook-Signature"))
}

// A receiver that sends its headers and then stalls in the body: the
// attempt still ends at the timeout, and the status it sent counts.
func TestSendTimeoutCoversBody(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newTestServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) })
	done := make(chan struct{})
	var resp *Response
	var err error
	go func() {
		defer close(done)
		resp, err = loopbackSender(t, 100*time.Millisecond).Send(context.Background(),
			Request{URL: srv.URL, Resource: "issue", Body: []byte("{}"), Secret: "s"})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return although the body stalled past the timeout")
	}
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "partial", string(resp.Body))
}

func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()
	resp, err := loopbackSender(t, time.Second).Send(context.Background(),
		Request{URL: "http://" + closedPort(t) + "/hook", Resource: "issue", Body: []byte("{}"), Secret: "s"})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	require.False(t, te.Timeout, "%v", err)
	require.False(t, netguard.IsRefused(err), "a closed port is a connection error, not a guard refusal")
	require.Contains(t, err.Error(), "connection error")
	require.Zero(t, resp.StatusCode)
}

func TestSendGuardRefusesBeforeConnecting(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s := NewSender(Options{Timeout: time.Second, Guard: netguard.New(false, nil)})
	t.Cleanup(s.Close)
	// A literal loopback IP is refused by CheckURL, a name by the dial hook.
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := s.Send(context.Background(), Request{URL: u, Resource: "issue", Body: []byte("{}"), Secret: "s"})
		require.Error(t, err, u)
		require.True(t, netguard.IsRefused(err), "%s: %v", u, err)
		var te *TransportError
		require.False(t, errors.As(err, &te), "a refusal is not a transport error")
	}
	require.Empty(t, srv.requests())
}

func TestSendInvalidURL(t *testing.T) {
	t.Parallel()
	s := loopbackSender(t, time.Second)
	_, err := s.Send(context.Background(), Request{URL: "http://[::1", Resource: "issue", Secret: "s"})
	var iu *InvalidURLError
	require.ErrorAs(t, err, &iu)
	require.Contains(t, err.Error(), "invalid webhook URL")

	_, err = s.Send(context.Background(), Request{URL: "ftp://127.0.0.1/x", Resource: "issue", Secret: "s"})
	require.True(t, netguard.IsRefused(err), "%v", err)
}

func TestSendReadsAtMost64KiB(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxResponseBody+5000)
	srv := newTestServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, big)
	})
	resp, err := loopbackSender(t, time.Second).Send(context.Background(),
		Request{URL: srv.URL, Resource: "issue", Body: []byte("{}"), Secret: "s"})
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Len(t, resp.Body, MaxResponseBody)
}

func TestSendCancelledContext(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	srv := newTestServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1); <-release })
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for hits.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := loopbackSender(t, 10*time.Second).Send(ctx, Request{URL: srv.URL, Resource: "issue", Body: []byte("{}"), Secret: "s"})
	require.ErrorIs(t, err, context.Canceled)
	var te *TransportError
	require.False(t, errors.As(err, &te), "the task's own end is not the receiver's fault")
}
