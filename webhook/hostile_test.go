package webhook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/netguard"
)

// rawReceiver is a loopback TCP server that reads one request's headers and
// then runs behave on the raw connection: it can answer anything, at any
// pace, which an http.Handler cannot. It counts the connections still open
// and closes them all at cleanup.
type rawReceiver struct {
	addr  string
	open  atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
	stop  chan struct{}
}

func newRawReceiver(t *testing.T, behave func(c net.Conn, stop <-chan struct{})) *rawReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &rawReceiver{addr: ln.Addr().String(), stop: make(chan struct{})}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.open.Add(1)
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.open.Add(-1)
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = req.Body.Read(make([]byte, 1<<16))
				behave(c, r.stop)
				// Hold the connection until the client hangs up or the
				// test ends: a hostile receiver never closes first.
				done := make(chan struct{})
				defer close(done)
				go func() {
					select {
					case <-r.stop:
						c.Close()
					case <-done:
					}
				}()
				for {
					if _, err := c.Read(make([]byte, 1024)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		close(r.stop)
		ln.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		wg.Wait()
	})
	return r
}

// write writes s to c until stop, one byte every pause when pause > 0.
func write(c net.Conn, stop <-chan struct{}, s string, pause time.Duration) bool {
	if pause == 0 {
		_, err := c.Write([]byte(s))
		return err == nil
	}
	for i := 0; i < len(s); i++ {
		select {
		case <-stop:
			return false
		case <-time.After(pause):
		}
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return false
		}
	}
	return true
}

// hostileBehaviours are receivers that try to hold an attempt past its
// timeout, each in its own way.
var hostileBehaviours = map[string]func(c net.Conn, stop <-chan struct{}){
	"101 with Connection: Upgrade": func(c net.Conn, stop <-chan struct{}) {
		write(c, stop, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 0)
	},
	"101 without Connection: Upgrade": func(c net.Conn, stop <-chan struct{}) {
		write(c, stop, "HTTP/1.1 101 Switching Protocols\r\n\r\n", 0)
	},
	"101 then a trickle of bytes": func(c net.Conn, stop <-chan struct{}) {
		write(c, stop, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n", 0)
		write(c, stop, strings.Repeat("x", 1000), 20*time.Millisecond)
	},
	"a flood of 1xx": func(c net.Conn, stop <-chan struct{}) {
		for i := 0; i < 10000; i++ {
			if !write(c, stop, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 0) {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	},
	"headers byte by byte": func(c net.Conn, stop <-chan struct{}) {
		write(c, stop, "HTTP/1.1 200 OK\r\nX-Slow: "+strings.Repeat("a", 1000)+"\r\n\r\n", 10*time.Millisecond)
	},
	"a body that never ends": func(c net.Conn, stop <-chan struct{}) {
		write(c, stop, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0)
		for write(c, stop, "400\r\n"+strings.Repeat("z", 1024)+"\r\n", 0) {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	},
	"a body that stalls": func(c net.Conn, stop <-chan struct{}) {
		write(c, stop, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", 0)
	},
}

// TestSendBoundedWhateverTheReceiverDoes holds every attempt to its timeout
// plus a small margin, whatever the receiver answers, and leaves no
// goroutine or connection behind.
func TestSendBoundedWhateverTheReceiverDoes(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	const margin = 200 * time.Millisecond
	for name, behave := range hostileBehaviours {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rcv := newRawReceiver(t, behave)
			s := loopbackSender(t, timeout)
			start := time.Now()
			res, err := s.Send(context.Background(), Request{
				URL: "http://" + rcv.addr + "/hook", Resource: "issue", Body: []byte(`{}`), Secret: "s",
			})
			took := time.Since(start)
			require.Less(t, took, timeout+margin, "attempt held %v", took)
			if strings.HasPrefix(name, "101") {
				require.Error(t, err, "a 101 is a failed attempt")
				var pe *ProtocolError
				require.True(t, errors.As(err, &pe), "error %v is not a *ProtocolError", err)
				require.Equal(t, 0, res.StatusCode)
			}
			if name == "a body that stalls" {
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, res.StatusCode, "the receiver answered: the code counts")
			}
			// The worker hangs up: the receiver sees its connection close.
			s.Close()
			require.Eventually(t, func() bool { return rcv.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
				"connections still open: %d", rcv.open.Load())
		})
	}
}

// TestSendLeavesNoGoroutines sends to every hostile receiver many times and
// checks the goroutine count returns to its baseline.
func TestSendLeavesNoGoroutines(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	const timeout = 200 * time.Millisecond
	var rcvs []*rawReceiver
	for _, behave := range hostileBehaviours {
		rcvs = append(rcvs, newRawReceiver(t, behave))
	}
	s := NewSender(Options{Timeout: timeout, Guard: netguard.New(true, nil), UserAgent: "t"})
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for _, r := range rcvs {
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = s.Send(context.Background(), Request{URL: fmt.Sprintf("http://%s/h", r.addr), Resource: "issue", Body: []byte(`{}`)})
			}()
		}
	}
	wg.Wait()
	s.Close()
	for _, r := range rcvs {
		require.Eventually(t, func() bool { return r.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
