package netguard

import (
	"errors"
	"strings"

	"github.com/hookworker/hookworker/internal/clamp"
)

// RefusedError says why the webhook sender refuses a destination. It is
// returned by CheckAddr, CheckURL and Control, and a refusal is final for the
// task: the caller archives it and does not count it against the breaker.
//
// Host is the address or host as it was given (an IP literal, "host:port", or
// the URL host). Reason is a short human phrase; address refusals start with
// "is " (e.g. "is in a private network (10.0.0.0/8)") so the message reads as
// a sentence, other refusals are noun phrases (e.g. "invalid host:
// non-canonical numeric IPv4 form").
type RefusedError struct {
	Host   string
	Reason string
}

// Error formats the refusal, e.g.
// "destination refused: 10.0.0.1 is in a private network (10.0.0.0/8)" or
// "destination refused: 127.1: invalid host: non-canonical numeric IPv4 form".
//
// The host is cut to clamp.HostBytes: a URL's host can be megabytes long.
func (e *RefusedError) Error() string {
	host := clamp.String(e.Host, clamp.HostBytes)
	switch {
	case e.Host == "":
		return "destination refused: " + e.Reason
	case strings.HasPrefix(e.Reason, "is "):
		return "destination refused: " + host + " " + e.Reason
	default:
		return "destination refused: " + host + ": " + e.Reason
	}
}

// IsRefused reports whether err is, or wraps, a *RefusedError; the dial hook's
// refusal reaches the caller wrapped in *net.OpError and *url.Error, so the
// sender uses this to tell a refusal (archive, no breaker) from a network
// failure (retry).
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

func refused(host, reason string) *RefusedError {
	return &RefusedError{Host: host, Reason: reason}
}
