package webhook

import (
	"net/http"
	"net/url"
	"sort"
)

// RequestError is a request hookworker cannot build from its own inputs: a
// header value net/http would refuse (a producer-chosen task id with CR or
// LF in Hookworker-Delivery-ID), or a host it would refuse in the Host
// header. It is our fault, not the receiver's: nothing was sent, and the
// caller archives the task without counting it against the receiver.
type RequestError struct{ Reason string }

func (e *RequestError) Error() string { return "cannot build the webhook request: " + e.Reason }

// checkRequest finds, before anything is dialled, what net/http would
// refuse while writing the request (the checks of golang.org/x/net's
// httpguts, which net/http applies), so that the refusal is not mistaken
// for a connection error of the receiver.
func checkRequest(u *url.URL, h http.Header) error {
	if !validHost(u.Host) {
		return &RequestError{Reason: "the URL's host is not a valid Host header"}
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !validHeaderName(k) {
			return &RequestError{Reason: "invalid header name"}
		}
		for _, v := range h[k] {
			if !validHeaderValue(v) {
				return &RequestError{Reason: "header " + k + ": invalid value (control characters such as CR or LF)"}
			}
		}
	}
	return nil
}

// validHeaderName reports whether k is an RFC 7230 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && containsByte("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control character but tab
// (obs-text, bytes 0x80 and up, is allowed as net/http allows it).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h may be sent as a Host header: the bytes
// net/http accepts there.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c >= 0x80: // net/http accepts UTF-8 hosts, sending them punycoded
		case containsByte("!$%&'()*+,-.:;=[]_~", c):
		default:
			return false
		}
	}
	return true
}

func containsByte(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}
