package config

import (
	"net/url"
	"strings"

	"github.com/hookworker/hookworker/internal/clamp"
)

// Masked replaces a secret in a redacted URL.
const Masked = "xxxxx"

// Redact returns raw fit for a log line, a task error or an e-mail: the one
// URL redaction of the project. It masks, with Masked,
//
//   - the password of the userinfo, and the user name too when there is no
//     password (a lone user name is usually a token, as in
//     https://ghp_…@host/) or when it looks like a token;
//   - the value of every query parameter whose name looks secret (token,
//     key, signature, sig, secret, password, auth, credential, session,
//     code, …; see secretKey), and any query value or fragment that looks
//     like a token;
//   - every path segment that looks like a token (see looksLikeToken), as in
//     Slack's /services/T…/B…/<token> or Discord's /api/webhooks/<id>/<token>.
//
// The rest is kept, query order included, so the URL stays recognisable,
// and the result is cut to clamp.URLBytes. A value that does not parse as a
// URL is replaced entirely. The request log
// keeps webhook_url as configured (as Sentry does): it is not redacted.
func Redact(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		name := u.User.Username()
		_, hasPassword := u.User.Password()
		switch {
		case !hasPassword && name != "":
			u.User = url.User(Masked)
		case hasPassword && looksLikeToken(name):
			u.User = url.UserPassword(Masked, Masked)
		case hasPassword:
			u.User = url.UserPassword(name, Masked)
		}
	}
	if u.Opaque != "" {
		// mailto:…, or a scheme without "//": nothing structured to keep.
		u.Opaque = Masked
	}
	if p := u.EscapedPath(); p != "" {
		segs := strings.Split(p, "/")
		changed := false
		for i, seg := range segs {
			if dec, err := url.PathUnescape(seg); err == nil && looksLikeToken(dec) {
				segs[i], changed = Masked, true
			}
		}
		if changed {
			escaped := strings.Join(segs, "/")
			if dec, err := url.PathUnescape(escaped); err == nil {
				u.Path, u.RawPath = dec, escaped
			}
		}
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	if u.Fragment != "" && (looksLikeToken(u.Fragment) || strings.ContainsAny(u.Fragment, "=&")) {
		u.Fragment, u.RawFragment = Masked, ""
	}
	return clamp.String(u.String(), clamp.URLBytes)
}

// redactQuery masks the values of secret-looking names and token-looking
// values in a raw query string, keeping its order and its other bytes.
func redactQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		name, value, hasValue := strings.Cut(part, "=")
		dname, err := url.QueryUnescape(name)
		if err != nil {
			dname = name
		}
		dvalue, err := url.QueryUnescape(value)
		if err != nil {
			dvalue = value
		}
		switch {
		case hasValue && value != "" && (secretKey(dname) || looksLikeToken(dvalue)):
			parts[i] = name + "=" + Masked
		case !hasValue && looksLikeToken(dname):
			parts[i] = Masked // ?<token>
		}
	}
	return strings.Join(parts, "&")
}

// secretWords make a query parameter name secret when the name, lower-cased
// and without '-' and '_', contains one of them.
var secretWords = []string{"token", "secret", "passw", "pwd", "signature", "authoriz", "credential", "session",
	"apikey", "accesskey", "privatekey", "jwt", "hmac", "bearer", "cookie", "nonce"}

// secretNames make it secret when the normalised name is one of them, or
// ends with one of them (x-amz-signature, api_key, client_key, hub.sig…).
var secretNames = []string{"key", "sig", "code", "hash", "pass", "ticket", "otp", "salt", "auth"}

// secretKey reports whether a query parameter name looks like it carries a
// secret.
func secretKey(name string) bool {
	n := strings.ToLower(name)
	n = strings.NewReplacer("-", "", "_", "", ".", "").Replace(n)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, w := range secretNames {
		if strings.HasSuffix(n, w) {
			return true
		}
	}
	return false
}

// looksLikeToken reports whether s looks like a generated secret rather than
// a word, a name or a number: at least 16 characters of letters, digits and
// -_.~+/=, alternating often between lower case, upper case and digits (a
// random string switches class at about half of its characters; words and
// numbers such as "installation-12345678" hardly ever), or 32 hex digits
// and more. Random hex, base64, base62 and UUIDs qualify;
// "issue-webhooks-v2" and "123456789012345678" do not.
func looksLikeToken(s string) bool {
	if len(s) < 16 {
		return false
	}
	const (
		other = iota
		lower
		upper
		digit
	)
	prev, changes, alnum, digits, digitRuns := other, 0, 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		class := other
		switch {
		case 'a' <= c && c <= 'z':
			class = lower
		case 'A' <= c && c <= 'Z':
			class = upper
		case '0' <= c && c <= '9':
			class = digit
		case strings.IndexByte("-_.~+/=", c) >= 0:
		default:
			return false // spaces, punctuation, non-ASCII: prose, not a token
		}
		if class == other {
			continue
		}
		alnum++
		if class == digit {
			digits++
			if prev != digit {
				digitRuns++
			}
		}
		if prev != other && class != prev {
			changes++
		}
		prev = class
	}
	// Class changes per character: ~0.6 for random base62, ~0.47 for
	// random hex, ~0.3 for CamelCase words (kept when they have no digit), near 0 for words and numbers.
	// Three runs of digits among letters is rare in words too.
	if alnum >= 16 && changes >= 4 && (digits > 0 && changes*4 >= alnum || changes*20 >= alnum*9 || digitRuns >= 3 && digits < alnum) {
		return true
	}
	// 32 hex digits or more: a digest, a key, an event id.
	return len(s) >= 32 && strings.Trim(s, "0123456789abcdefABCDEF") == ""
}
