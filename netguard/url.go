package netguard

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hookworker/hookworker/internal/clamp"
)

// reasonNumericIPv4 is the refusal reason for legacy numeric IPv4 hosts.
const reasonNumericIPv4 = "invalid host: non-canonical numeric IPv4 form"

// CheckURL validates a webhook URL before any DNS lookup, so bad URLs are
// refused (archived) without resolving or dialling. It returns nil or a
// *RefusedError. It requires:
//
//   - scheme http or https (case-insensitive);
//   - a non-empty host, and a port, if given, in 1-65535;
//   - a host that is not a legacy numeric IPv4 spelling (127.1, 0x7f000001,
//     2130706433, 017700000001, 0177.0.0.1, 1.2.3.4. ...): following the
//     WHATWG URL rule, a host whose last label is numeric must be a canonical
//     dotted quad, or it is refused as invalid and never reaches a resolver;
//   - no empty labels ("a..b", ".a"); one trailing dot ("example.com.") is
//     fine;
//   - a literal IP host (dotted quad or bracketed IPv6) that passes
//     CheckAddr; IPv6 zones ("[fe80::1%25eth0]") are refused.
//
// Hostnames are allowed here: they are checked on their resolved addresses
// by Control at dial time. Userinfo ("https://user:pass@host/") is allowed,
// it is HTTP basic auth for some receivers and cannot disguise the host,
// which is taken from the parsed URL; callers should log u.Redacted().
// allowPrivate and allowed networks only open addresses: they never admit
// another scheme or a numeric host that is not canonical.
func (g *Guard) CheckURL(u *url.URL) error {
	if u == nil {
		return refused("", "no URL")
	}
	if !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return refused(u.Host, fmt.Sprintf("unsupported URL scheme %s (only http and https)", clamp.Quote(u.Scheme)))
	}
	host := u.Hostname()
	if host == "" {
		return refused(u.Host, "URL has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return refused(u.Host, "invalid port")
		}
	}
	return g.checkHost(host, strings.HasPrefix(u.Host, "["))
}

// checkHost applies the CheckURL host rules; bracketed says the URL wrote
// the host in brackets (an IPv6 literal).
func (g *Guard) checkHost(host string, bracketed bool) error {
	if bracketed || strings.Contains(host, ":") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return refused(host, "invalid host: malformed IPv6 literal")
		}
		if ip.Zone() != "" {
			return refused(host, "invalid host: IPv6 zone identifiers are not allowed")
		}
		return g.CheckAddr(ip)
	}

	folded := foldHost(host)
	name := strings.TrimSuffix(folded, ".")
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return refused(host, "invalid host: empty label")
		}
	}
	if !numericLabel(labels[len(labels)-1]) {
		return nil // a hostname: checked at dial time
	}
	// Canonical only if written exactly as a dotted quad: no trailing dot,
	// no characters that IDNA would fold, no leading zeros (ParseAddr
	// rejects those), four decimal parts.
	if name == host {
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
			return g.CheckAddr(ip)
		}
	}
	return refused(host, reasonNumericIPv4)
}

// numericLabel reports whether a host label is, or may become after the
// IDNA mapping net/http applies to hosts, a number in the WHATWG sense
// (decimal digits, or 0x/0X followed by hex digits). Such a label at the end
// of a host makes it an IPv4 address, never a domain name.
func numericLabel(l string) bool {
	ascii := true
	for i := 0; i < len(l); i++ {
		if l[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		if strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0X") {
			return strings.Trim(l[2:], "0123456789abcdefABCDEF") == ""
		}
		return l != "" && strings.Trim(l, "0123456789") == ""
	}
	// Best effort for non-ASCII labels (the dial-time check stays
	// authoritative): refuse labels made only of characters that may map to
	// hex digits or x (compatibility digits and letters) with at least one
	// digit among them.
	digit := false
	for _, r := range l {
		switch {
		case r >= '0' && r <= '9', r >= 0x80 && unicode.IsNumber(r):
			digit = true
		case r < 0x80 && strings.ContainsRune("abcdefABCDEFxX", r):
		case r >= 0x1D400 && r <= 0x1D7FF: // Mathematical Alphanumeric Symbols
		case r >= 0x2460 && r <= 0x24FF: // Enclosed Alphanumerics
		case unicode.Is(unicode.Lm, r): // modifier letters (ˣ, ₓ, ...)
		default:
			return false
		}
	}
	return digit
}

// foldHost applies the part of the IDNA (UTS 46) mapping that matters for
// spotting numeric hosts: fullwidth ASCII forms become ASCII and the
// ideographic full stops become '.'.
func foldHost(h string) string {
	if !strings.ContainsFunc(h, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return h
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFEE0
		case r == 0x3002 || r == 0xFF61:
			return '.'
		}
		return r
	}, h)
}
