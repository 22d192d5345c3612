package webhook

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/netguard"
)

// h1Server is a loopback TCP server that hands every accepted connection
// to handle, counts the connections, and closes them all at cleanup.
type h1Server struct {
	addr     string
	accepted atomic.Int64
}

func newH1Server(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) *h1Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &h1Server{addr: ln.Addr().String()}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// readHead reads one request's line and headers (as written) and its
// body; ok is false when the client is gone.
func readHead(br *bufio.Reader) (head string, ok bool) {
	var b strings.Builder
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return b.String(), false
		}
		b.WriteString(line)
		if v, found := strings.CutPrefix(line, "Content-Length: "); found {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := io.ReadFull(br, make([]byte, n)); err != nil {
		return b.String(), false
	}
	return b.String(), true
}

// answerEach answers every request on c with answer, until the client
// hangs up.
func answerEach(answer string) func(c net.Conn, br *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		defer c.Close()
		for {
			if _, ok := readHead(br); !ok {
				return
			}
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
		}
	}
}

// countingServer is an httptest server that counts the connections it
// accepts.
func countingServer(t *testing.T, tlsServer bool, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	if tlsServer {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &n
}

// idleConns returns how many idle connections s keeps.
func idleConns(t *testing.T, s *Sender) int {
	t.Helper()
	s.h1.mu.Lock()
	defer s.h1.mu.Unlock()
	n := 0
	for _, l := range s.h1.idle {
		n += len(l)
	}
	require.Equal(t, n, s.h1.nidle, "the idle count drifted")
	return n
}

func send(t *testing.T, s *Sender, u string) *Response {
	t.Helper()
	resp, err := s.Send(context.Background(), Request{URL: u, Resource: "issue", Body: []byte(`{"a":1}`), Secret: "s"})
	require.NoError(t, err)
	return resp
}

func TestH1ReusesConnection(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	})
	s := loopbackSender(t, time.Second)
	for range 3 {
		resp := send(t, s, srv.URL+"/h")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, `{"a":1}`, string(resp.Body))
		require.Equal(t, 1, idleConns(t, s))
	}
	require.EqualValues(t, 1, conns.Load(), "3 sends should share one connection")
	s.Close()
	require.Zero(t, idleConns(t, s))
	// Still usable after Close, on a new connection.
	require.Equal(t, http.StatusOK, send(t, s, srv.URL).StatusCode)
	require.EqualValues(t, 2, conns.Load())
}

// A receiver that closes its idle connections: the probe sees it and the
// next send dials anew instead of failing on the dead connection.
func TestH1ServerClosedIdleConnection(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 10)
	srv := newH1Server(t, func(c net.Conn, br *bufio.Reader) {
		defer func() { closed <- struct{}{} }()
		defer c.Close()
		if _, ok := readHead(br); ok {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	s := loopbackSender(t, time.Second)
	u := "http://" + srv.addr + "/h"
	require.Equal(t, "ok", string(send(t, s, u).Body))
	require.Equal(t, 1, idleConns(t, s), "the answer allowed keep-alive")
	<-closed
	// The FIN reaches the idle socket: the probe reports it dead.
	s.h1.mu.Lock()
	c := s.h1.idle["http://"+srv.addr][0]
	s.h1.mu.Unlock()
	require.NoError(t, c.nc.SetDeadline(time.Time{})) // a passed deadline would fail the probe too
	require.Eventually(t, func() bool { return !c.alive() }, 5*time.Second, time.Millisecond)
	for i := range 3 {
		resp := send(t, s, u)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.EqualValues(t, i+2, srv.accepted.Load())
		<-closed
	}
}

func TestH1ProbeKeepsLiveConnection(t *testing.T) {
	t.Parallel()
	srv := newH1Server(t, answerEach("HTTP/1.1 204 No Content\r\n\r\n"))
	s := loopbackSender(t, time.Second)
	send(t, s, "http://"+srv.addr)
	s.h1.mu.Lock()
	c := s.h1.idle["http://"+srv.addr][0]
	s.h1.mu.Unlock()
	require.True(t, c.alive(), "an open, silent connection is alive")
	require.True(t, c.alive(), "the probe consumes nothing")
}

func TestH1ConnectionCloseNotReused(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	s := loopbackSender(t, time.Second)
	for range 2 {
		require.Equal(t, "bye", string(send(t, s, srv.URL).Body))
		require.Zero(t, idleConns(t, s))
	}
	require.EqualValues(t, 2, conns.Load())
}

func TestH1ChunkedResponse(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		for _, p := range []string{"one,", "two,", "three"} {
			_, _ = io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	})
	s := loopbackSender(t, time.Second)
	for range 2 {
		resp := send(t, s, srv.URL)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		require.Equal(t, "one,two,three", string(resp.Body))
	}
	require.EqualValues(t, 1, conns.Load(), "a chunked body read to its end leaves the connection reusable")
}

func TestH1HTTP10Response(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]string{
		"with length":    "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"until EOF":      "HTTP/1.0 200 OK\r\n\r\nhello",
		"1.1 until EOF":  "HTTP/1.1 200 OK\r\n\r\nhello",
		"1.1 with close": "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newH1Server(t, func(c net.Conn, br *bufio.Reader) {
				defer c.Close()
				if _, ok := readHead(br); ok {
					_, _ = io.WriteString(c, answer)
				}
			})
			s := loopbackSender(t, time.Second)
			resp := send(t, s, "http://"+srv.addr)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "hello", string(resp.Body))
			require.Zero(t, idleConns(t, s), "not kept: the answer closes the connection")
		})
	}
}

func TestH1Informational(t *testing.T) {
	t.Parallel()
	final := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for n, wantOK := range map[int]bool{1: true, h1Max1xx: true, h1Max1xx + 1: false} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			srv := newH1Server(t, answerEach(strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", n-1)+
				"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"+final))
			s := loopbackSender(t, time.Second)
			resp, err := s.Send(context.Background(), Request{URL: "http://" + srv.addr, Resource: "issue", Body: []byte(`{}`)})
			if wantOK {
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.Equal(t, "ok", string(resp.Body))
				require.Equal(t, 1, idleConns(t, s))
				return
			}
			var te *TransportError
			require.ErrorAs(t, err, &te)
			require.False(t, te.Timeout)
			require.ErrorIs(t, err, errTooMany1xx)
			require.Zero(t, resp.StatusCode)
			require.Zero(t, idleConns(t, s))
		})
	}
}

func TestH1OversizedHeadersRefused(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	srv := newH1Server(t, func(c net.Conn, br *bufio.Reader) {
		defer c.Close()
		if _, ok := readHead(br); !ok {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		for {
			// Endless headers: the client must stop at 64 KiB, long before
			// the timeout.
			if _, err := io.WriteString(c, "X-Pad: "+strings.Repeat("p", 1000)+"\r\n"); err != nil {
				return
			}
		}
	})
	s := loopbackSender(t, timeout)
	start := time.Now()
	resp, err := s.Send(context.Background(), Request{URL: "http://" + srv.addr, Resource: "issue", Body: []byte(`{}`)})
	require.Less(t, time.Since(start), timeout/2, "refused when the limit is reached, not at the timeout")
	var te *TransportError
	require.ErrorAs(t, err, &te)
	require.False(t, te.Timeout, "%v", err)
	require.ErrorIs(t, err, errHeadersTooLarge)
	require.Contains(t, err.Error(), "headers exceed 65536 bytes")
	require.Zero(t, resp.StatusCode)
	require.Zero(t, idleConns(t, s))
}

func TestH1BodyOverLimitNotReused(t *testing.T) {
	t.Parallel()
	for name, size := range map[string]int{"just over": MaxResponseBody + 1, "far over": 4 * MaxResponseBody} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, conns := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, strings.Repeat("b", size))
			})
			s := loopbackSender(t, time.Second)
			for range 2 {
				resp := send(t, s, srv.URL)
				require.Len(t, resp.Body, MaxResponseBody)
				require.Zero(t, idleConns(t, s))
			}
			require.EqualValues(t, 2, conns.Load())
		})
	}
	// Exactly the limit is read in full: the connection is kept.
	srv, conns := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("b", MaxResponseBody))
	})
	s := loopbackSender(t, time.Second)
	for range 2 {
		require.Len(t, send(t, s, srv.URL).Body, MaxResponseBody)
	}
	require.EqualValues(t, 1, conns.Load())
}

func TestH1HTTPS(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "HTTP/1.1", r.Proto)
		_, _ = io.WriteString(w, "secure")
	})
	trusted := loopbackSender(t, 2*time.Second)
	trusted.h1.tlsConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for range 2 {
		resp := send(t, trusted, srv.URL+"/h")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "secure", string(resp.Body))
	}
	require.EqualValues(t, 1, conns.Load(), "the TLS connection is reused")

	// The same server, not trusted: the certificate is refused.
	untrusted := loopbackSender(t, 2*time.Second)
	resp, err := untrusted.Send(context.Background(), Request{URL: srv.URL, Resource: "issue", Body: []byte(`{}`)})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	require.False(t, te.Timeout)
	var cve *tls.CertificateVerificationError
	require.ErrorAs(t, err, &cve, "%v", err)
	require.Zero(t, resp.StatusCode)
	require.Zero(t, idleConns(t, untrusted))
}

func TestH1HTTPSNotForAnotherName(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, true, func(w http.ResponseWriter, _ *http.Request) {})
	s := loopbackSender(t, 2*time.Second)
	s.h1.tlsConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	// httptest's certificate names 127.0.0.1 and example.com, not localhost.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := s.Send(context.Background(), Request{URL: u, Resource: "issue", Body: []byte(`{}`)})
	var te *TransportError
	require.ErrorAs(t, err, &te, "%v", err)
	var cve *tls.CertificateVerificationError
	require.ErrorAs(t, err, &cve, "%v", err)
}

// The request's bytes, exactly: request line, Host, the headers sorted by
// name with their spelling kept, Authorization from the userinfo,
// Content-Length, the body.
func TestH1RequestBytes(t *testing.T) {
	t.Parallel()
	heads := make(chan string, 4)
	srv := newH1Server(t, func(c net.Conn, br *bufio.Reader) {
		defer c.Close()
		for {
			head, ok := readHead(br)
			if !ok {
				return
			}
			heads <- head
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	for _, tc := range []struct {
		name, ua, url, uri, auth string
		body                     string
	}{
		{name: "plain", ua: "hookworker/test", url: "http://" + srv.addr + "/hook?x=1&y=%2F", uri: "/hook?x=1&y=%2F", body: `{"k":"v"}`},
		{name: "no path, no UA, empty body", url: "http://" + srv.addr, uri: "/"},
		{name: "userinfo", ua: "u", url: "http://hook%20user:p%40ss@" + srv.addr + "/x#frag", uri: "/x",
			auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("hook user:p@ss")), body: "{}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSender(Options{Timeout: time.Second, Guard: netguard.New(true, nil), UserAgent: tc.ua})
			t.Cleanup(s.Close)
			resp, err := s.Send(context.Background(), Request{URL: tc.url, Resource: "issue", Body: []byte(tc.body),
				Secret: "s", DeliveryID: "d-1", Now: time.Unix(1700000000, 0)})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			head := <-heads
			want := "POST " + tc.uri + " HTTP/1.1\r\nHost: " + srv.addr + "\r\n"
			h := resp.RequestHeader.Clone()
			if tc.auth != "" {
				h["Authorization"] = []string{tc.auth}
			}
			names := slices.Sorted(func(yield func(string) bool) {
				for k := range h {
					if !yield(k) {
						return
					}
				}
			})
			for _, k := range names {
				want += k + ": " + h[k][0] + "\r\n"
			}
			want += "Content-Length: " + strconv.Itoa(len(tc.body)) + "\r\n"
			if tc.ua == "" {
				want += "User-Agent: Go-http-client/1.1\r\n"
			}
			want += "\r\n"
			require.Equal(t, want, head)
			require.NotContains(t, resp.RequestHeader, "Authorization", "the request log does not record the URL's credentials")
		})
	}
}

func TestH1NeverWritesCRLFInAValue(t *testing.T) {
	t.Parallel()
	u, err := url.Parse("http://example.com/")
	require.NoError(t, err)
	b := appendRequest(nil, u, http.Header{"X-Evil": {"a\r\nInjected: 1\nb"}}, nil)
	require.Contains(t, string(b), "X-Evil: a  Injected: 1 b\r\n")
	require.Equal(t, 6, strings.Count(string(b), "\r\n"), "request line, Host, X-Evil, Content-Length, User-Agent and the blank line")
}

// countingGuard counts the addresses its Control judged.
type countingGuard struct {
	*netguard.Guard
	dials atomic.Int64
}

func (g *countingGuard) Control(network, address string, c syscall.RawConn) error {
	g.dials.Add(1)
	return g.Guard.Control(network, address, c)
}

// The Guard judges every connection the client makes, new ones after a
// closed one included.
func TestH1GuardJudgesEveryDial(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
	})
	g := &countingGuard{Guard: netguard.New(true, nil)}
	s := NewSender(Options{Timeout: time.Second, Guard: g})
	t.Cleanup(s.Close)
	for range 3 {
		send(t, s, srv.URL)
	}
	require.EqualValues(t, 3, conns.Load())
	require.EqualValues(t, 3, g.dials.Load())

	refusing := &countingGuard{Guard: netguard.New(false, nil)}
	s2 := NewSender(Options{Timeout: time.Second, Guard: refusing})
	t.Cleanup(s2.Close)
	_, err := s2.Send(context.Background(), Request{URL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), Resource: "issue"})
	require.True(t, netguard.IsRefused(err), "%v", err)
	require.Positive(t, refusing.dials.Load())
	require.EqualValues(t, 3, conns.Load(), "nothing connected")
}

// A per-host cap on idle connections: the extra ones are closed.
func TestH1IdlePerHostCap(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(3)
	srv, conns := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		arrived.Done()
		<-release
	})
	s := NewSender(Options{Timeout: 5 * time.Second, Guard: netguard.New(true, nil), MaxConnsPerHost: 2})
	t.Cleanup(s.Close)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.Send(context.Background(), Request{URL: srv.URL, Resource: "issue"})
		}()
	}
	arrived.Wait() // three requests in flight at once: three connections
	close(release)
	wg.Wait()
	require.EqualValues(t, 3, conns.Load())
	require.Equal(t, 2, idleConns(t, s))
}

// Idle connections older than the idle timeout are closed, not used.
func TestH1IdleExpiry(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, false, func(http.ResponseWriter, *http.Request) {})
	s := loopbackSender(t, time.Second)
	send(t, s, srv.URL)
	require.Equal(t, 1, idleConns(t, s))
	age := func() {
		s.h1.mu.Lock()
		for _, l := range s.h1.idle {
			for _, c := range l {
				c.idleSince = c.idleSince.Add(-h1IdleTimeout - time.Second)
			}
		}
		s.h1.lastSweep = time.Time{}
		s.h1.mu.Unlock()
	}
	age()
	send(t, s, srv.URL)
	require.EqualValues(t, 2, conns.Load(), "the expired connection was not used")
	require.Equal(t, 1, idleConns(t, s))

	// The sweep drops expired connections of other hosts too.
	other, _ := countingServer(t, false, func(http.ResponseWriter, *http.Request) {})
	age()
	send(t, s, other.URL)
	require.Equal(t, 1, idleConns(t, s), "only the new connection is idle")
}

// The caller's context ending while the answer is awaited aborts the
// attempt at once, and the connection is not kept.
func TestH1ContextEndsAttempt(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	srv := newH1Server(t, func(c net.Conn, br *bufio.Reader) {
		defer c.Close()
		if _, ok := readHead(br); ok {
			close(arrived)
			_, _ = io.ReadAll(c) // never answers
		}
	})
	s := loopbackSender(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	start := time.Now()
	_, err := s.Send(ctx, Request{URL: "http://" + srv.addr, Resource: "issue"})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Zero(t, idleConns(t, s))
	var te *TransportError
	require.False(t, errors.As(err, &te))
}

// An IPv6 literal host: dialled in brackets, sent as written in Host.
func TestH1IPv6Literal(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	hosts := make(chan string, 1)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://[::1]:"), srv.URL)
	s := loopbackSender(t, time.Second)
	require.Equal(t, http.StatusOK, send(t, s, srv.URL).StatusCode)
	require.Equal(t, strings.TrimPrefix(srv.URL, "http://"), <-hosts)
	require.Equal(t, 1, idleConns(t, s))
}
