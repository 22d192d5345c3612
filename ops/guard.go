package ops

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrExposed is returned by New for an operator server that would listen
// beyond loopback without credentials (see CheckExposure).
var ErrExposed = errors.New("ops: exposed without credentials")

// CheckExposure refuses an operator server that listens beyond this machine's
// loopback without OPS_BASIC_AUTH: the queue UI can pause queues and delete
// tasks, and pprof and /metrics tell a lot about the machine. insecure
// (OPS_INSECURE=true) accepts it, for deployments where a proxy or a network
// policy already guards the port.
func CheckExposure(addr, basicAuth string, insecure bool) error {
	if basicAuth != "" || insecure || IsLoopbackAddr(addr) {
		return nil
	}
	return fmt.Errorf("%w: HTTP_ADDR %s listens beyond loopback and OPS_BASIC_AUTH is unset, so the queue UI, "+
		"the integration console, pprof and /metrics would answer anyone who reaches the port; set OPS_BASIC_AUTH=user:pass, "+
		"or OPS_INSECURE=true when something else guards the port", ErrExposed, addr)
}

// IsLoopbackAddr reports whether a listen address (host:port) accepts
// connections from this machine only: a loopback IP or "localhost". An empty
// host, a wildcard or another name listens (or may listen) beyond it.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// hostGuard answers only requests whose Host names this server, so a page
// on another site that rebinds its own DNS name to this address (DNS
// rebinding) gets nothing: its requests carry its own name. An IP address
// is always accepted, since rebinding needs a name; "localhost", the host of
// HTTP_ADDR and the names in OPS_ALLOWED_HOSTS ("*.example.com" for every
// subdomain) are the only names accepted.
type hostGuard struct {
	names    map[string]bool
	suffixes []string
}

// newHostGuard returns the guard for a server listening on addr with the
// extra names allowed.
func newHostGuard(addr string, allowed []string) hostGuard {
	g := hostGuard{names: map[string]bool{"localhost": true}}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		g.names[normalHost(host)] = true
	}
	for _, a := range allowed {
		a = normalHost(a)
		switch {
		case a == "":
		case strings.HasPrefix(a, "*."):
			g.suffixes = append(g.suffixes, a[1:])
		default:
			g.names[a] = true
		}
	}
	return g
}

// normalHost lower-cases a host name and drops a trailing dot and IPv6
// brackets.
func normalHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(h, ".")
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// allows reports whether a request's Host header (host or host:port) is
// accepted. An empty Host (HTTP/1.0 without it) is accepted: browsers always
// send one.
func (g hostGuard) allows(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = normalHost(host)
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if g.names[host] {
		return true
	}
	for _, s := range g.suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

// wrap refuses requests with another Host with 421 Misdirected Request.
func (g hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allows(r.Host) {
			http.Error(w, "this server does not answer for that Host name; add it to OPS_ALLOWED_HOSTS", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin refuses state-changing requests (every method but GET, HEAD and
// OPTIONS) that a browser sends on behalf of another site, with 403: Go's
// http.CrossOriginProtection reads Sec-Fetch-Site, or Origin against Host in
// older browsers. Requests without either header (curl, scripts, the CLI)
// are not from a browser and pass; they still need the credentials.
func sameOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused: state-changing requests must come from this server's own pages", http.StatusForbidden)
	}))
	return cop.Handler(next)
}
