package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/hookworker/hookworker/netguard"
)

// MaxResponseBody is how much of a response body is read (and kept for the
// request log); the rest is discarded with the connection.
const MaxResponseBody = 64 << 10

// Guard decides whether a URL and each dialled address may be used. The
// network guard (netguard.Guard) implements it.
type Guard interface {
	CheckURL(u *url.URL) error
	Control(network, address string, c syscall.RawConn) error
}

// Options configure a Sender.
type Options struct {
	// Timeout covers one whole attempt: DNS, connect, TLS, request, response
	// headers and reading the body. Defaults to 1s.
	Timeout time.Duration
	// Guard checks every URL and connection. Required.
	Guard Guard
	// UserAgent is sent as User-Agent.
	UserAgent string
	// MaxConnsPerHost caps idle keep-alive connections kept per host.
	// Defaults to 64.
	MaxConnsPerHost int
	// OmitStandardHeaders leaves out the Standard Webhooks headers
	// (WEBHOOK_STANDARD_HEADERS=false). Defaults to false: they are sent.
	OmitStandardHeaders bool
}

// Sender POSTs webhooks over HTTP/1.1 with its own lean client (h1.go),
// which keeps idle connections for reuse. It is safe for concurrent use.
type Sender struct {
	h1 *h1Client
	// client serves the rare URL whose host is not ASCII (an
	// internationalised name net/http sends punycoded).
	client  *http.Client
	guard   Guard
	timeout time.Duration
	ua      string
	// standard says whether to send the Standard Webhooks headers.
	standard bool
}

// NewSender returns a Sender. Redirects are never followed (a 3xx is the
// answer), proxies from the environment are ignored, TLS is verified, and
// receivers are spoken to in HTTP/1.1 (https included: ALPN "http/1.1").
func NewSender(o Options) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 64
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Control: o.Guard.Control}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    o.MaxConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	}
	return &Sender{
		h1: newH1Client(dialer, o.MaxConnsPerHost),
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		guard:    o.Guard,
		timeout:  o.Timeout,
		ua:       o.UserAgent,
		standard: !o.OmitStandardHeaders,
	}
}

// Close releases idle connections. The Sender can still be used.
func (s *Sender) Close() {
	s.h1.closeIdle()
	s.client.CloseIdleConnections()
}

// Request is one attempt to deliver a body.
type Request struct {
	URL      string
	Resource string
	// Body is sent as is. The transport may still be writing it after Send
	// returns (a receiver that answers before reading it all), so the
	// caller must not modify it afterwards.
	Body   []byte
	Secret string
	// DeliveryID identifies the webhook across its attempts (the asynq
	// task id): sent as Hookworker-Delivery-ID and webhook-id.
	DeliveryID string
	// Now is the attempt's time, sent as Sentry-Hook-Timestamp and
	// webhook-timestamp.
	Now time.Time
}

// Response is what one attempt produced.
type Response struct {
	// StatusCode is the HTTP status; 0 when the attempt failed (see error).
	StatusCode int
	// Header holds the response headers (nil without a response).
	Header http.Header
	// Body is at most MaxResponseBody bytes of the response body.
	Body []byte
	// RequestHeader holds the headers sent, signature included.
	RequestHeader http.Header
	// Duration is the attempt's wall time.
	Duration time.Duration
}

// Headers returns the headers of a webhook request for body: Sentry's and,
// when standard is true, the Standard Webhooks ones (standardwebhooks.com),
// which let receivers verify with a library instead of hand-written code:
//
//   - webhook-id: r.DeliveryID, the same on every attempt (the attempt's
//     Request-ID when there is none);
//   - webhook-timestamp: r.Now in Unix seconds, as Sentry-Hook-Timestamp;
//   - webhook-signature: "v1," and the standard base64 HMAC-SHA256 of
//     "<webhook-id>.<webhook-timestamp>.<body>", keyed with the bytes of the
//     client secret as they are (not base64-decoded): a receiver verifies
//     with svix.NewWebhookRaw([]byte(secret)), or with "whsec_" + base64 of
//     the secret in libraries that take that form.
//
// Header names are spelled as Sentry and the standard spell them
// (Request-ID, webhook-id), so http.Header.Get does not find every one;
// index the map. One HMAC key schedule serves both signatures.
func Headers(r Request, userAgent string, standard bool) http.Header {
	n := 7
	if standard {
		n += 3
	}
	h := make(http.Header, n)
	// One backing array for every header's value slice: one allocation
	// instead of one per header.
	vals := make([]string, 0, n)
	set := func(name, value string) {
		vals = append(vals, value)
		h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	requestID := newRequestID()
	timestamp := strconv.FormatInt(r.Now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(r.Secret))
	mac.Write(r.Body)
	var sum [sha256.Size]byte
	set("Content-Type", "application/json")
	set("Request-ID", requestID)
	set("Sentry-Hook-Resource", r.Resource)
	set("Sentry-Hook-Timestamp", timestamp)
	set("Sentry-Hook-Signature", hex.EncodeToString(mac.Sum(sum[:0])))
	if r.DeliveryID != "" {
		set("Hookworker-Delivery-ID", r.DeliveryID)
	}
	if userAgent != "" {
		set("User-Agent", userAgent)
	}
	if standard {
		id := cmp.Or(r.DeliveryID, requestID)
		mac.Reset()
		mac.Write([]byte(id + "." + timestamp + "."))
		mac.Write(r.Body)
		var sig [len(standardVersion) + 44]byte // 44: base64 of 32 bytes
		copy(sig[:], standardVersion)
		base64.StdEncoding.Encode(sig[len(standardVersion):], mac.Sum(sum[:0]))
		set("webhook-id", id)
		set("webhook-timestamp", timestamp)
		set("webhook-signature", string(sig[:]))
	}
	return h
}

// standardVersion prefixes a Standard Webhooks signature: v1 is
// HMAC-SHA256 with a symmetric key.
const standardVersion = "v1,"

// Send makes one attempt. The error is a *TransportError for timeouts and
// connection failures, a refusal of the Guard (checked with
// netguard.IsRefused) for forbidden destinations, an *InvalidURLError or a
// *RequestError (nothing sent) for a request that cannot be built, or the
// context's error when ctx itself ended. A non-2xx answer is not an error.
func (s *Sender) Send(ctx context.Context, r Request) (*Response, error) {
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	hdr := Headers(r, s.ua, s.standard)
	resp := &Response{RequestHeader: hdr}
	u, err := url.Parse(r.URL)
	if err != nil {
		return resp, &InvalidURLError{Reason: "does not parse"}
	}
	if err := s.guard.CheckURL(u); err != nil {
		return resp, err
	}
	if err := checkRequest(u, hdr); err != nil {
		return resp, err
	}
	if !isASCII(u.Host) {
		return s.sendNetHTTP(ctx, u, r, resp)
	}
	start := time.Now()
	err = s.h1.post(ctx, u, hdr, r.Body, start.Add(s.timeout), resp)
	resp.Duration = time.Since(start)
	switch {
	case err == nil:
		return resp, nil
	case resp.StatusCode != 0:
		// A body cut short by the attempt's deadline still leaves a status
		// code: the receiver answered, so the answer counts.
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, nil
	default:
		return resp, s.classify(ctx, err)
	}
}

// isASCII reports whether s is ASCII only.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// sendNetHTTP is Send through net/http, for a host that is not ASCII: its
// client converts the name to punycode for DNS, TLS and the Host header.
func (s *Sender) sendNetHTTP(ctx context.Context, u *url.URL, r Request, resp *Response) (*Response, error) {
	hdr := resp.RequestHeader
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return resp, &InvalidURLError{Reason: unwrapURL(err).Error()} // without the URL, which may hold secrets
	}
	if len(r.Body) > 0 {
		// A NopCloser around a bytes.Reader is a body net/http knows to be
		// in memory: it writes headers and body with one syscall instead of
		// flushing the headers first.
		body := r.Body
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	req.Header = hdr
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		resp.Duration = time.Since(start)
		return resp, s.classify(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusSwitchingProtocols {
		// net/http hands back the raw connection for a 101 and stops
		// watching the request's context: reading it would have no
		// deadline. A webhook POST never asks to switch protocols, so the
		// answer is a failed attempt; closing the body closes the
		// connection at once.
		resp.Duration = time.Since(start)
		return resp, &TransportError{Err: &ProtocolError{StatusCode: res.StatusCode}}
	}
	// Whatever the transport does with the body, it is closed at the
	// attempt's deadline, so no read outlives the timeout.
	stop := context.AfterFunc(actx, func() { res.Body.Close() })
	defer stop()
	resp.StatusCode = res.StatusCode
	resp.Header = res.Header
	resp.Body, err = io.ReadAll(io.LimitReader(res.Body, MaxResponseBody))
	resp.Duration = time.Since(start)
	if err != nil && ctx.Err() != nil {
		return resp, ctx.Err()
	}
	// A body cut short by the attempt's deadline still leaves a status code:
	// the receiver answered, so the answer counts.
	return resp, nil
}

// classify turns a client error into the error Send returns.
func (s *Sender) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return &TransportError{Err: pe}
	}
	if netguard.IsRefused(err) {
		return unwrapURL(err)
	}
	timeout := errors.Is(err, context.DeadlineExceeded)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	return &TransportError{Timeout: timeout, Err: unwrapURL(err)}
}

// unwrapURL drops *url.Error's "Post <url>:" prefix: the URL is logged
// separately and must not be repeated in every error.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// TransportError is a timeout or a connection failure: no HTTP answer.
type TransportError struct {
	Timeout bool
	Err     error
}

func (e *TransportError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("webhook timed out: %v", e.Err)
	}
	return fmt.Sprintf("webhook connection error: %v", e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// InvalidURLError is a webhook URL that cannot be used at all.
type InvalidURLError struct{ Reason string }

func (e *InvalidURLError) Error() string { return "invalid webhook URL: " + e.Reason }

// newRequestID returns a random UUIDv4 in hex, as Sentry's Request-ID. It
// identifies a request, it protects nothing: the runtime's per-thread
// ChaCha8 generator (math/rand/v2) serves it without the getrandom syscall
// crypto/rand makes each time, a measurable share of a delivery.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = (b[6] & 0x0f) | 0x40 // version 4
	b[8] = (b[8] & 0x3f) | 0x80 // variant 10
	return hex.EncodeToString(b[:])
}

// ProtocolError is an answer hookworker cannot take as a webhook response,
// such as 101 Switching Protocols: the receiver answered, but not with an
// HTTP response to the POST. It counts as a failed attempt, like a
// connection error.
type ProtocolError struct {
	// StatusCode is the code the receiver sent.
	StatusCode int
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("webhook receiver answered %d %s, not a response to the POST", e.StatusCode, http.StatusText(e.StatusCode))
}
