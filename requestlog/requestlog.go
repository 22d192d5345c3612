// Package requestlog writes the per-app webhook request log to Redis with
// Sentry-compatible keys and entries, so Sentry's web app can read it: the
// last 100 requests per app and event, and the last 100 errors apart.
//
// Every field of an entry is capped (see the Max* constants) so that no
// entry, JSON-encoded, exceeds MaxEntryBytes whatever the receiver answers
// or the app's webhook URL holds: a hostile receiver or URL cannot fill
// Redis.
package requestlog

import (
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

const (
	// MaxEntries is how many entries each list keeps.
	MaxEntries = 100
	// TTL is how long a list lives after its last write (30 days).
	TTL = 30 * 24 * time.Hour
	// MaxFieldChars cuts request_body and response_body, in characters
	// (Sentry's 1024), never inside a UTF-8 sequence.
	MaxFieldChars = 1024
	// MaxBodyBytes also bounds request_body and response_body: at most this
	// many bytes once JSON-encoded, quotes aside. 1024 characters of up to
	// 3 bytes fit; a body of 4-byte characters, control characters or
	// invalid bytes (each written as a 6-byte \u escape) is cut before its
	// 1024th character.
	MaxBodyBytes = 3072
	// MaxURLBytes bounds webhook_url, JSON-encoded, quotes aside. Real
	// webhook URLs are far shorter; a longer one is cut (at a character
	// boundary).
	MaxURLBytes = 512
	// MaxHeaderValueBytes bounds each value of request_headers, JSON-encoded,
	// quotes aside.
	MaxHeaderValueBytes = 128
	// MaxHeadersBytes bounds request_headers as a whole (names, values,
	// quotes and punctuation, JSON-encoded); headers past it, in name order,
	// are left out.
	MaxHeadersBytes = 1024
	// MaxEntryBytes is the most one entry takes, JSON-encoded: the sum of
	// the caps above and of the fixed-size fields is below it, and Writer
	// checks it again before writing.
	MaxEntryBytes = 8 << 10
	// DateLayout is Python's str(datetime) for an aware UTC time, which
	// Sentry's web app parses.
	DateLayout = "2006-01-02 15:04:05.000000+00:00"
)

// RequestKey is the list of every request of an app for one event.
func RequestKey(appID int64, event string) string {
	return "sentry-app-webhook-request:{" + strconv.FormatInt(appID, 10) + "}:" + event
}

// ErrorKey is the list of failed requests (see IsFailure).
func ErrorKey(appID int64, event string) string {
	return "sentry-app-webhook-error:{" + strconv.FormatInt(appID, 10) + "}:" + event
}

// Entry is one request-log entry, with Sentry's field names.
type Entry struct {
	Date           string            `json:"date"`
	ResponseCode   int               `json:"response_code"`
	WebhookURL     string            `json:"webhook_url"`
	OrganizationID *int64            `json:"organization_id,omitempty"`
	ErrorID        *string           `json:"error_id,omitempty"`
	ProjectID      *string           `json:"project_id,omitempty"`
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
	RequestBody    *string           `json:"request_body,omitempty"`
	ResponseBody   *string           `json:"response_body,omitempty"`
}

// IsFailure reports whether a response code also goes to the error list:
// 400–599, or 0 for no answer (a timeout or a connection error). Any other
// code, 600 and up included, goes to the request list only, as in Sentry.
func IsFailure(code int) bool { return code >= 400 && code <= 599 || code == 0 }

// Attempt is what the request log needs to know of one delivery attempt.
type Attempt struct {
	// Time is when the result was recorded: after the response or the
	// timeout, as Sentry dates its entries.
	Time           time.Time
	ResponseCode   int
	WebhookURL     string
	OrganizationID int64
	// Internal apps' entries omit organization_id, as Sentry's do.
	Internal       bool
	RequestHeader  http.Header
	RequestBody    []byte
	ResponseHeader http.Header
	ResponseBody   []byte
}

// NewEntry builds the entry of an attempt, every field within its cap.
func NewEntry(a Attempt) Entry {
	e := Entry{
		Date:         a.Time.UTC().Format(DateLayout),
		ResponseCode: a.ResponseCode,
		WebhookURL:   Cut(a.WebhookURL, MaxURLBytes, MaxURLBytes),
	}
	if !a.Internal {
		org := a.OrganizationID
		e.OrganizationID = &org
	}
	e.ErrorID, e.ProjectID = errorLink(a.ResponseHeader)
	if IsFailure(a.ResponseCode) {
		e.RequestHeaders = capHeaders(a.RequestHeader)
		req := Cut(string(a.RequestBody), MaxFieldChars, MaxBodyBytes)
		resp := Cut(string(a.ResponseBody), MaxFieldChars, MaxBodyBytes)
		e.RequestBody, e.ResponseBody = &req, &resp
	}
	return e
}

// errorLink returns the receiver's Sentry-Hook-Error and Sentry-Hook-Project
// values when both headers are present and both are plausible ids, nil
// otherwise. Sentry's receivers put there the id of the event their own
// Sentry SDK reported (32 hex digits, or a UUID with dashes) and the
// numeric id of its project; anything else is not a link Sentry's web app
// can follow, and storing it would let a receiver write what it likes into
// the log. Empty values are kept, as Sentry keeps them.
func errorLink(h http.Header) (errID, projID *string) {
	ev, ok1 := h["Sentry-Hook-Error"]
	pv, ok2 := h["Sentry-Hook-Project"]
	if !ok1 || !ok2 {
		return nil, nil
	}
	e, p := first(ev), first(pv)
	if !PlausibleEventID(e) || !PlausibleProjectID(p) {
		return nil, nil
	}
	return &e, &p
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// PlausibleEventID reports whether s may be a Sentry event id: empty, 32
// hex digits, or a UUID written with dashes (36 characters).
func PlausibleEventID(s string) bool {
	switch len(s) {
	case 0:
		return true
	case 32:
		return allHex(s)
	case 36:
		return s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
			allHex(s[:8]) && allHex(s[9:13]) && allHex(s[14:18]) && allHex(s[19:23]) && allHex(s[24:])
	}
	return false
}

// PlausibleProjectID reports whether s may be a Sentry project id: empty or
// a positive decimal integer of at most 19 digits (an int64).
func PlausibleProjectID(s string) bool {
	if len(s) == 0 {
		return true
	}
	if len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// capHeaders copies the first value of each header, each cut to
// MaxHeaderValueBytes, in name order until MaxHeadersBytes is reached.
func capHeaders(h http.Header) map[string]string {
	names := make([]string, 0, len(h))
	for k, v := range h {
		if len(v) > 0 {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	out := make(map[string]string, len(names))
	used := 2 // {}
	for _, k := range names {
		v := Cut(h[k][0], MaxHeaderValueBytes, MaxHeaderValueBytes)
		n := EncodedLen(k) + 1 + EncodedLen(v) + 1 // "k":"v", (one comma fewer in fact)
		if used+n > MaxHeadersBytes {
			continue
		}
		used += n
		out[k] = v
	}
	return out
}

// Cut returns the longest prefix of s that has at most maxChars characters
// (runes, as Python counts; an invalid byte counts as one) and takes at most
// maxBytes bytes JSON-encoded, quotes aside. It never cuts inside a UTF-8
// sequence.
func Cut(s string, maxChars, maxBytes int) string {
	if len(s) <= maxChars && len(s) <= maxBytes && plain(s) {
		return s
	}
	size, chars := 0, 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		c := runeCost(s[i], r, n)
		if chars == maxChars || size+c > maxBytes {
			return s[:i]
		}
		size += c
		chars++
		i += n
	}
	return s
}

// plain reports whether s is printable ASCII without '"' or '\\': each byte
// encodes as itself.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// EncodedLen is the length of s as a JSON string (quotes included) written
// by encoding/json with HTML escaping off, as Writer writes it.
func EncodedLen(s string) int {
	size := 2
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		size += runeCost(s[i], r, n)
		i += n
	}
	return size
}

// runeCost is what encoding/json writes for one rune r of n bytes starting
// with byte b.
func runeCost(b byte, r rune, n int) int {
	if b < utf8.RuneSelf {
		switch {
		case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f':
			return 2
		case b < 0x20:
			return 6 // \u00XX
		}
		return 1
	}
	if r == utf8.RuneError && n == 1 {
		return 6 // invalid byte → \ufffd
	}
	if r == '\u2028' || r == '\u2029' {
		return 6
	}
	return n
}
