// Package netguard keeps the webhook sender away from destinations it must
// not reach: webhook URLs are chosen by third parties, so without a guard
// they could point the worker at loopback services, the private network or a
// cloud metadata endpoint (SSRF).
//
// The decisive check runs at dial time on the resolved IP of every
// connection (Guard.Control as a net.Dialer Control hook), so DNS rebinding
// and hostnames that resolve to internal addresses are refused too.
// Guard.CheckURL is an early check on the URL itself (scheme, legacy numeric
// hosts, literal IPs) so obviously bad URLs are refused without a lookup.
//
// Wiring, for callers:
//
//	d := &net.Dialer{Control: g.Control}
//	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil}
//	client := &http.Client{Transport: tr, CheckRedirect: func(r *http.Request, via []*http.Request) error {
//		if len(via) >= 10 {
//			return errors.New("stopped after 10 redirects")
//		}
//		return g.CheckURL(r.URL) // redirects are dialled through Control anyway
//	}}
//
// Proxy must stay nil: through a proxy the hook would only see the proxy's
// address. Do not set Dialer.ControlContext, which replaces Control.
package netguard

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// Guard decides whether the webhook sender may connect to an address. By
// default it refuses every non-global destination (see CheckAddr); New can
// open exceptions. A Guard is immutable and safe for concurrent use; a nil
// *Guard behaves like New(false, nil).
type Guard struct {
	allowPrivate bool
	allowed      []netip.Prefix
}

// New returns a Guard. allowPrivate (WEBHOOK_ALLOW_PRIVATE=true) opens every
// non-global range but cloud metadata, for local development; allowed
// (WEBHOOK_ALLOWED_NETWORKS, see ParseNetworks) opens exceptions, and a
// cloud metadata address only when it is allowed as that single address.
// Allowed prefixes are copied and masked; an IPv4-mapped IPv6 prefix such
// as ::ffff:10.0.0.0/104 is stored as its IPv4 form (10.0.0.0/8), and an
// IPv4 prefix also opens the IPv4-mapped spelling of its addresses (the
// same address), not their 6to4 or NAT64 spellings. Invalid (zero)
// prefixes are ignored.
func New(allowPrivate bool, allowed []netip.Prefix) *Guard {
	g := &Guard{allowPrivate: allowPrivate}
	for _, p := range allowed {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		g.allowed = append(g.allowed, p.Masked())
	}
	return g
}

// CheckAddr reports whether ip may be dialled: nil, or a *RefusedError
// naming the range. IPv4-mapped IPv6 addresses are judged as IPv4, zones are
// ignored, 6to4 and NAT64 addresses are judged by the IPv4 address they
// embed; loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast,
// unspecified, documentation, Teredo, other IANA non-global ranges and cloud
// metadata addresses are refused unless opened by New (see judge).
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return refused("invalid address", "is not a valid IP address")
	}
	if reason := g.judge(ip.WithZone("").Unmap()); reason != "" {
		return refused(ip.String(), reason)
	}
	return nil
}

// Control is a net.Dialer Control hook: it runs after name resolution and
// before every connect, parses address ("ip:port" or "[ipv6]:port", as the
// dialer passes it) and applies CheckAddr. An address that is not a literal
// IP and port (e.g. a unix socket path) is refused.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refused(address, fmt.Sprintf("is not a literal IP address and port (network %q)", network))
	}
	return g.CheckAddr(ap.Addr())
}

// judge returns "" if ip (unmapped, zone-free) may be dialled, otherwise the
// reason it is refused. In order:
//
//  1. a cloud metadata address (metadataRanges) is refused unless allowed as
//     that exact single address — neither WEBHOOK_ALLOW_PRIVATE nor a wider
//     allowed network opens it, nor a 6to4 or NAT64 spelling of it;
//  2. WEBHOOK_ALLOW_PRIVATE and the allowed networks open the rest;
//  3. a 6to4 or NAT64 address is judged by the IPv4 addresses it embeds,
//     without the allowed networks: allowing an IPv4 network allows that
//     IPv4 network only (its IPv4-mapped spelling is the same address; a
//     translated one is another route), so to reach a translated address
//     allow its IPv6 prefix;
//  4. the table of refused ranges, then a backstop.
func (g *Guard) judge(ip netip.Addr) string {
	if r, ok := lookupMetadata(ip); ok && !g.allowsExactly(ip) {
		return fmt.Sprintf("is %s (%s), refused unless allowed as a single address", r.name, r.prefix)
	}
	kind, v4s := embeddedIPv4(ip)
	for _, v4 := range v4s {
		if r, ok := lookupMetadata(v4); ok {
			return fmt.Sprintf("is %s embedding %s, which is %s (%s)", kind, v4, r.name, r.prefix)
		}
	}
	if g.allows(ip) {
		return ""
	}
	if kind != "" {
		var strict *Guard
		for _, v4 := range v4s {
			if reason := strict.judge(v4); reason != "" {
				return fmt.Sprintf("is %s embedding %s, which %s", kind, v4, reason)
			}
		}
		return ""
	}
	if r, ok := lookupBlocked(ip); ok {
		return fmt.Sprintf("is %s (%s)", r.name, r.prefix)
	}
	if ip.Is6() && !ipv6Unicast.Contains(ip) {
		return "is outside the IPv6 global unicast range (2000::/3)"
	}
	// Backstop for anything the table missed.
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return "is not a global unicast address"
	}
	return ""
}

// allows reports whether WEBHOOK_ALLOW_PRIVATE or an allowed network opens
// ip (metadata aside, see judge).
func (g *Guard) allows(ip netip.Addr) bool {
	if g == nil {
		return false
	}
	if g.allowPrivate {
		return true
	}
	for _, p := range g.allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// allowsExactly reports whether ip is allowed as a single address (/32 or
// /128; an IPv4-mapped /128 was stored as its /32).
func (g *Guard) allowsExactly(ip netip.Addr) bool {
	if g == nil {
		return false
	}
	for _, p := range g.allowed {
		if p.IsSingleIP() && p.Addr() == ip {
			return true
		}
	}
	return false
}

// ParseNetworks parses WEBHOOK_ALLOWED_NETWORKS: a comma-separated list of
// CIDR prefixes (spaces around entries and empty entries are ignored; an
// empty string gives nil). A bare IP means /32 or /128. Prefixes with host
// bits set (10.1.2.3/8) and zones are rejected, since a typo in an exception
// list would silently open a larger network; the error names the bad entry.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(entry, "/") {
			var err error
			p, err = netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("netguard: invalid network %q: %w", entry, err)
			}
			if m := p.Masked(); m != p {
				return nil, fmt.Errorf("netguard: invalid network %q: host bits set (did you mean %s?)", entry, m)
			}
		} else {
			ip, err := netip.ParseAddr(entry)
			if err != nil {
				return nil, fmt.Errorf("netguard: invalid network %q: %w", entry, err)
			}
			if ip.Zone() != "" {
				return nil, fmt.Errorf("netguard: invalid network %q: zones are not allowed", entry)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}
