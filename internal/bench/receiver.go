package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookworker/hookworker/internal/bench/fixture"
)

// Receiver is the webhook endpoint of the benchmark: an HTTP server on
// 127.0.0.1 that answers 200 at once, counts every request and records its
// receipt time and, when the body carries an enqueue stamp
// (fixture.LatencyStamp), the enqueue→receipt latency.
type Receiver struct {
	// URL is the endpoint to point installations at.
	URL   string
	srv   *http.Server
	total atomic.Int64
	conns atomic.Int64
	cur   atomic.Pointer[tally]
	bufs  sync.Pool
}

// StartReceiver listens on a free loopback port and serves until Close.
func StartReceiver() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: listen: %w", err)
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/hook"}
	r.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }
	r.cur.Store(newTally(0))
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				r.conns.Add(1)
			}
		}}
	go r.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed at Close
	return r, nil
}

// ServeHTTP reads the body, records the request and answers 200.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := io.Copy(buf, req.Body)
	now := time.Now()
	if err == nil {
		lat := time.Duration(-1)
		if ns, ok := fixture.LatencyStamp(buf.Bytes()); ok {
			lat = max(0, now.Sub(time.Unix(0, ns)))
		}
		r.total.Add(1)
		r.cur.Load().add(now, lat)
	}
	r.bufs.Put(buf)
	w.WriteHeader(http.StatusOK)
}

// expect starts a new measurement window of n requests and returns it.
// Requests arriving later go to the next window.
func (r *Receiver) expect(n int) *tally {
	t := newTally(n)
	r.cur.Store(t)
	return t
}

// Total is every request received since the start.
func (r *Receiver) Total() int64 { return r.total.Load() }

// Connections is every connection accepted since the start: a sender that
// keeps its connections alive opens about as many as it has concurrent
// requests, one that does not opens one per request.
func (r *Receiver) Connections() int64 { return r.conns.Load() }

// Close stops the server.
func (r *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("receiver: %w", err)
	}
	return r.srv.Close()
}

// DeadReceiver accepts connections and never answers: every request sent to
// it ends with the sender's timeout (WEBHOOK_TIMEOUT).
type DeadReceiver struct {
	// URL is the endpoint to point installations at.
	URL      string
	ln       net.Listener
	accepted atomic.Int64
	first    atomic.Int64 // Unix ns of the first accept since resetFirst
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// StartDeadReceiver listens on a free loopback port until Close.
func StartDeadReceiver() (*DeadReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dead receiver: listen: %w", err)
	}
	d := &DeadReceiver{URL: "http://" + ln.Addr().String() + "/hook", ln: ln, conns: map[net.Conn]struct{}{}}
	d.wg.Add(1)
	go d.accept()
	return d, nil
}

func (d *DeadReceiver) accept() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.accepted.Add(1)
		d.first.CompareAndSwap(0, time.Now().UnixNano())
		d.mu.Lock()
		d.conns[c] = struct{}{}
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			_, _ = io.Copy(io.Discard, c) // until the sender gives up and closes
			d.mu.Lock()
			delete(d.conns, c)
			d.mu.Unlock()
			c.Close()
		}()
	}
}

// resetFirst forgets the first accept's time.
func (d *DeadReceiver) resetFirst() { d.first.Store(0) }

// firstAccept is when the first connection since resetFirst was accepted
// (zero: none).
func (d *DeadReceiver) firstAccept() time.Time {
	if ns := d.first.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Accepted is how many connections were accepted since the start.
func (d *DeadReceiver) Accepted() int64 { return d.accepted.Load() }

// Close stops accepting and drops every held connection.
func (d *DeadReceiver) Close() error {
	err := d.ln.Close()
	d.mu.Lock()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return err
}
