package netguard

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Network rule for these tests: traffic goes to loopback only (the httptest
// server listens on 127.0.0.1). Refusals of other ranges are tested as
// decisions in guard_test.go, never by connecting.

// loopbackServer starts an HTTP server on 127.0.0.1 and counts the
// connections it accepts.
func loopbackServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("test server not on 127.0.0.1: %s", srv.Listener.Addr())
	}
	return srv, &conns
}

// guardedClient is wired the way the sender must wire it: the guard as the
// dialer's Control hook and no proxy.
func guardedClient(g *Guard) *http.Client {
	d := &net.Dialer{Control: g.Control, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil},
	}
}

func TestRealConnectionRefused(t *testing.T) {
	srv, conns := loopbackServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	client := guardedClient(New(false, nil))
	defer client.CloseIdleConnections()

	for _, target := range []string{
		srv.URL,
		"http://localhost:" + strconv.Itoa(port) + "/", // resolves to loopback
	} {
		resp, err := client.Post(target, "application/json", strings.NewReader("{}"))
		if err == nil {
			_ = resp.Body.Close()
			t.Fatalf("POST %s succeeded, want refusal", target)
		}
		if !IsRefused(err) {
			t.Fatalf("POST %s: IsRefused(%v) = false", target, err)
		}
		if _, ok := err.(*url.Error); !ok {
			t.Fatalf("POST %s: error is %T, want *url.Error", target, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("server accepted %d connections, want 0 (refusal must happen before connect)", n)
	}
}

func TestDialLocalhostRefused(t *testing.T) {
	srv, conns := loopbackServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	d := &net.Dialer{Control: New(false, nil).Control, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
	if err == nil {
		_ = c.Close()
		t.Fatal("dial localhost succeeded, want refusal")
	}
	if !IsRefused(err) {
		t.Fatalf("IsRefused(%v) = false", err)
	}
	if _, ok := err.(*net.OpError); !ok {
		t.Fatalf("error is %T, want *net.OpError", err)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("server accepted %d connections, want 0", n)
	}
}

func TestRealConnectionAllowed(t *testing.T) {
	srv, conns := loopbackServer(t)
	nets, err := ParseNetworks("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*Guard{
		"allowed 127.0.0.0/8": New(false, nets),
		"allowPrivate":        New(true, nil),
	} {
		client := guardedClient(g)
		resp, err := client.Post(srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("%s: POST: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		client.CloseIdleConnections()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("%s: got %d %q", name, resp.StatusCode, body)
		}
	}
	if conns.Load() == 0 {
		t.Fatal("server saw no connection")
	}
}
