package webhook

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The HTTP/1.1 client Sender uses: one POST is written and its answer read
// on the calling goroutine, with no goroutine per connection or request and
// no channel, which is most of what net/http's client machinery costs per
// request. Responses are parsed by net/http's own parser
// (http.ReadResponse). Idle connections are pooled without a goroutine:
// they are checked (a non-blocking peek) when taken, and old ones are
// dropped when the pool is used.

const (
	// h1MaxHeaderBytes bounds the bytes of a response's headers (each 1xx
	// and the final answer), as MaxResponseHeaderBytes did.
	h1MaxHeaderBytes = 64 << 10
	// h1MaxIdle caps idle connections in all.
	h1MaxIdle = 1024
	// h1IdleTimeout is how long an idle connection may be kept.
	h1IdleTimeout = 90 * time.Second
	// h1SweepEvery is how often, at most, the pool looks for expired idle
	// connections of every host.
	h1SweepEvery = 10 * time.Second
	// h1Max1xx is how many informational answers (100, 103...) may precede
	// the response.
	h1Max1xx = 8
	// h1ReadBuffer is the size of a connection's bufio.Reader.
	h1ReadBuffer = 4 << 10
	// h1KeepWriteBuffer is the largest write buffer kept with a connection.
	h1KeepWriteBuffer = 64 << 10
	// h1DefaultUserAgent is what net/http sent without a User-Agent header.
	h1DefaultUserAgent = "Go-http-client/1.1"
)

var (
	errHeadersTooLarge = fmt.Errorf("reading the response: headers exceed %d bytes", h1MaxHeaderBytes)
	errTooMany1xx      = fmt.Errorf("reading the response: more than %d informational (1xx) answers", h1Max1xx)
)

// h1PostRequest is the request http.ReadResponse is told the answer is for:
// it only reads Method.
var h1PostRequest = &http.Request{Method: http.MethodPost}

// h1Client makes POSTs over HTTP/1.1 and pools idle connections.
type h1Client struct {
	dialer *net.Dialer
	// tlsConfig is cloned for every TLS connection (ServerName set). Tests
	// replace it to trust their server.
	tlsConfig      *tls.Config
	maxIdlePerHost int

	mu        sync.Mutex
	idle      map[string][]*h1Conn // per key, oldest first
	nidle     int
	lastSweep time.Time
}

func newH1Client(dialer *net.Dialer, maxIdlePerHost int) *h1Client {
	return &h1Client{
		dialer: dialer,
		tlsConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"},
		},
		maxIdlePerHost: maxIdlePerHost,
		idle:           make(map[string][]*h1Conn),
	}
}

// h1Conn is one connection with its buffers.
type h1Conn struct {
	key string
	nc  net.Conn // the TCP conn, or the TLS conn over it
	// raw is the TCP socket, for the liveness probe (nil if not TCP).
	raw syscall.RawConn
	// lr bounds what br may read: the headers, then the body.
	lr   io.LimitedReader
	br   *bufio.Reader
	wbuf []byte
	// idleSince is when the connection was put back in the pool.
	idleSince time.Time

	// The probe's results and buffer, and the method values handed to
	// RawConn.Read and context.AfterFunc, made once per connection.
	probeN   int
	probeErr error
	probeBuf [1]byte
	probeFn  func(fd uintptr) bool
	abortFn  func()
}

func (c *h1Conn) close() { _ = c.nc.Close() }

// abort makes the connection's pending and future reads and writes fail at
// once (the caller's context ended).
func (c *h1Conn) abort() { _ = c.nc.SetDeadline(time.Unix(1, 0)) }

// alive reports whether an idle connection may be used: its peer has not
// closed it nor sent anything (an idle HTTP/1.1 connection receives
// nothing), checked without blocking.
func (c *h1Conn) alive() bool {
	if c.raw == nil || c.probeFn == nil {
		return true
	}
	c.probeN, c.probeErr = 0, nil
	if err := c.raw.Read(c.probeFn); err != nil {
		return false
	}
	return probeSaysAlive(c.probeN, c.probeErr)
}

// post makes one POST of body to u with hdr, bounded by deadline and ctx,
// and fills resp's StatusCode, Header and Body. An error with
// resp.StatusCode still 0 means no answer; with a status code, the body was
// cut short. A 101 answer is a *ProtocolError.
func (h *h1Client) post(ctx context.Context, u *url.URL, hdr http.Header, body []byte, deadline time.Time, resp *Response) error {
	https := u.Scheme == "https"
	port := u.Port()
	if port == "" {
		port = "80"
		if https {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	key := u.Scheme + "://" + addr
	for {
		c, reused, err := h.conn(ctx, u, https, key, addr, deadline)
		if err != nil {
			return err
		}
		var stop func() bool
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, c.abortFn)
		}
		retry, err := h.exchange(c, reused, u, hdr, body, resp)
		aborted := stop != nil && !stop()
		if err == errNotReusable {
			c.close()
			return nil
		}
		if err != nil {
			c.close()
			if retry && !aborted && ctx.Err() == nil {
				// Nothing of the request reached a reused connection the
				// peer had closed: net/http tries another connection too.
				continue
			}
			return err
		}
		if aborted || ctx.Err() != nil {
			c.close()
			return nil
		}
		h.put(c)
		return nil
	}
}

// exchange writes the request on c and reads the answer into resp. Without
// error, c may be reused; with one, the caller closes c. retry says nothing
// was written on a reused connection.
func (h *h1Client) exchange(c *h1Conn, reused bool, u *url.URL, hdr http.Header, body []byte, resp *Response) (retry bool, err error) {
	b := appendRequest(c.wbuf[:0], u, hdr, body)
	n, err := c.nc.Write(b)
	if cap(b) <= h1KeepWriteBuffer {
		c.wbuf = b[:0]
	} else {
		c.wbuf = nil
	}
	if err != nil {
		return reused && n == 0, fmt.Errorf("writing the request: %w", err)
	}
	res, err := c.readResponse()
	if err != nil {
		return false, err
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// A webhook POST never asks to switch protocols: the answer is a
		// failed attempt, and the connection is closed.
		return false, &ProtocolError{StatusCode: res.StatusCode}
	}
	resp.StatusCode = res.StatusCode
	resp.Header = res.Header
	c.lr.N = MaxResponseBody + h1MaxHeaderBytes // the body and its chunk framing
	var complete bool
	resp.Body, complete, err = readBody(res.Body, res.ContentLength)
	if err != nil {
		return false, fmt.Errorf("reading the response body: %w", err)
	}
	if !complete || res.Close || c.br.Buffered() > 0 {
		return false, errNotReusable
	}
	return false, nil
}

// errNotReusable is an answer read in full enough that leaves its
// connection unusable for another request; post does not return it.
var errNotReusable = errors.New("connection not reusable")

// readResponse reads the answer to the request, skipping up to h1Max1xx
// informational ones.
func (c *h1Conn) readResponse() (*http.Response, error) {
	for n1xx := 0; ; n1xx++ {
		c.lr.N = h1MaxHeaderBytes
		res, err := http.ReadResponse(c.br, h1PostRequest)
		if err != nil {
			if c.lr.N <= 0 {
				return nil, errHeadersTooLarge
			}
			return nil, fmt.Errorf("reading the response: %w", err)
		}
		if res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
			return res, nil
		}
		if n1xx >= h1Max1xx {
			return nil, errTooMany1xx
		}
	}
}

// readBody reads at most MaxResponseBody bytes of r; complete says r ended
// within them. size is the announced length (-1 if unknown).
func readBody(r io.Reader, size int64) (b []byte, complete bool, err error) {
	n := 512
	if size >= 0 && size <= MaxResponseBody {
		n = int(size) + 1 // +1: room for the read that sees the end
	}
	b = make([]byte, 0, n)
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), MaxResponseBody+1-cap(b)))
		}
		m, err := r.Read(b[len(b):min(cap(b), MaxResponseBody+1)])
		b = b[:len(b)+m]
		if len(b) > MaxResponseBody {
			return b[:MaxResponseBody], false, nil
		}
		if err == io.EOF {
			return b, true, nil
		}
		if err != nil {
			return b, false, err
		}
	}
}

// appendRequest appends the request line, headers and body to b: Host,
// the headers of hdr sorted by name (each value on its own line, as
// net/http wrote them), Authorization from the URL's userinfo if hdr has
// none (as http.Client did), Content-Length, and net/http's User-Agent if
// hdr has none.
func appendRequest(b []byte, u *url.URL, hdr http.Header, body []byte) []byte {
	b = append(b, "POST "...)
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, u.Host...)
	b = append(b, "\r\n"...)
	var arr [16]string
	names := arr[:0]
	for k := range hdr {
		names = append(names, k)
	}
	const authorization = "Authorization"
	if _, ok := hdr[authorization]; !ok && u.User != nil {
		names = append(names, authorization)
	}
	slices.Sort(names)
	for _, k := range names {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // written by the client itself, as net/http does
		}
		vs, ok := hdr[k]
		if !ok { // the Authorization from the URL
			user := u.User.Username()
			pass, _ := u.User.Password()
			b = append(b, "Authorization: Basic "...)
			b = base64.StdEncoding.AppendEncode(b, []byte(user+":"+pass))
			b = append(b, "\r\n"...)
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	if _, ok := hdr["User-Agent"]; !ok {
		b = append(b, "User-Agent: "+h1DefaultUserAgent+"\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// appendHeaderValue appends v with any CR or LF replaced by a space (as
// net/http does): checkRequest refuses such values, this only makes sure
// no header can ever be injected.
func appendHeaderValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// conn returns a live idle connection for key, or a new one.
func (h *h1Client) conn(ctx context.Context, u *url.URL, https bool, key, addr string, deadline time.Time) (c *h1Conn, reused bool, err error) {
	for {
		c := h.get(key)
		if c == nil {
			break
		}
		// The deadline first: a passed one would fail the probe.
		if c.nc.SetDeadline(deadline) == nil && c.alive() {
			return c, true, nil
		}
		c.close()
	}
	c, err = h.dial(ctx, u, https, key, addr, deadline)
	return c, false, err
}

// dial connects to addr through the Dialer (so the Guard's Control judges
// every address) and, for https, makes the TLS handshake, all before
// deadline.
func (h *h1Client) dial(ctx context.Context, u *url.URL, https bool, key, addr string, deadline time.Time) (*h1Conn, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := h.dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &h1Conn{key: key, nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.probeFn = c.probe
		}
	}
	c.abortFn = c.abort
	if err := nc.SetDeadline(deadline); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("setting the deadline: %w", err)
	}
	if https {
		cfg := h.tlsConfig.Clone()
		cfg.ServerName = u.Hostname()
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, err // tls: ... errors say what failed
		}
		c.nc = tc
	}
	c.lr.R = c.nc
	c.br = bufio.NewReaderSize(&c.lr, h1ReadBuffer)
	return c, nil
}

// get takes the most recently used idle connection for key, if one has
// not been idle too long.
func (h *h1Client) get(key string) *h1Conn {
	now := time.Now()
	h.mu.Lock()
	list := h.idle[key]
	if len(list) == 0 {
		h.mu.Unlock()
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	list = list[:len(list)-1]
	h.nidle--
	var stale []*h1Conn
	if now.Sub(c.idleSince) > h1IdleTimeout {
		// The newest is too old: so are the others.
		stale = append(list, c)
		h.nidle -= len(list)
		list = nil
		c = nil
	}
	if len(list) == 0 {
		delete(h.idle, key)
	} else {
		h.idle[key] = list
	}
	h.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	return c
}

// put makes c idle, or closes it if the pool is full.
func (h *h1Client) put(c *h1Conn) {
	now := time.Now()
	c.idleSince = now
	h.mu.Lock()
	stale := h.sweepLocked(now)
	list := h.idle[c.key]
	if len(list) >= h.maxIdlePerHost || h.nidle >= h1MaxIdle {
		stale = append(stale, c)
	} else {
		h.idle[c.key] = append(list, c)
		h.nidle++
	}
	h.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
}

// sweepLocked removes, at most every h1SweepEvery, the connections idle
// for longer than h1IdleTimeout, and returns them to be closed.
func (h *h1Client) sweepLocked(now time.Time) []*h1Conn {
	if now.Sub(h.lastSweep) < h1SweepEvery {
		return nil
	}
	h.lastSweep = now
	var stale []*h1Conn
	for key, list := range h.idle {
		i := 0
		for i < len(list) && now.Sub(list[i].idleSince) > h1IdleTimeout {
			i++
		}
		if i == 0 {
			continue
		}
		stale = append(stale, list[:i]...)
		h.nidle -= i
		if i == len(list) {
			delete(h.idle, key)
		} else {
			h.idle[key] = slices.Delete(list, 0, i)
		}
	}
	return stale
}

// closeIdle closes every idle connection.
func (h *h1Client) closeIdle() {
	h.mu.Lock()
	idle := h.idle
	h.idle = make(map[string][]*h1Conn)
	h.nidle = 0
	h.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.close()
		}
	}
}
