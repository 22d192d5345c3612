// Package requestlog writes the per-app webhook request log to Redis with
// Sentry-compatible keys and entries, so Sentry's web app can read it: the
// last 100 requests per app and event, and the last 100 errors apart.
package requestlog

import (
	"net/http"
	"strconv"
	"time"
)

const (
	// MaxEntries is how many entries each list keeps.
	MaxEntries = 100
	// TTL is how long a list lives after its last write (30 days).
	TTL = 30 * 24 * time.Hour
	// MaxFieldChars cuts request_body, response_body and header values.
	MaxFieldChars = 1024
	// DateLayout is Python's str(datetime) for an aware UTC time, which
	// Sentry's web app parses.
	DateLayout = "2006-01-02 15:04:05.000000+00:00"
)

// RequestKey is the list of every request of an app for one event.
func RequestKey(appID int64, event string) string {
	return "sentry-app-webhook-request:{" + strconv.FormatInt(appID, 10) + "}:" + event
}

// ErrorKey is the list of failed requests (code >= 400 or 0).
func ErrorKey(appID int64, event string) string {
	return "sentry-app-webhook-error:{" + strconv.FormatInt(appID, 10) + "}:" + event
}

// Entry is one request-log entry, with Sentry's field names.
type Entry struct {
	Date           string            `json:"date"`
	ResponseCode   int               `json:"response_code"`
	WebhookURL     string            `json:"webhook_url"`
	OrganizationID *int64            `json:"organization_id,omitempty"`
	ErrorID        string            `json:"error_id,omitempty"`
	ProjectID      string            `json:"project_id,omitempty"`
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
	RequestBody    *string           `json:"request_body,omitempty"`
	ResponseBody   *string           `json:"response_body,omitempty"`
}

// IsFailure reports whether a response code also goes to the error list.
func IsFailure(code int) bool { return code >= 400 || code == 0 }

// Attempt is what the request log needs to know of one delivery attempt.
type Attempt struct {
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

// NewEntry builds the entry of an attempt.
func NewEntry(a Attempt) Entry {
	e := Entry{
		Date:         a.Time.UTC().Format(DateLayout),
		ResponseCode: a.ResponseCode,
		WebhookURL:   a.WebhookURL,
	}
	if !a.Internal {
		org := a.OrganizationID
		e.OrganizationID = &org
	}
	if errID, projID := a.ResponseHeader.Get("Sentry-Hook-Error"), a.ResponseHeader.Get("Sentry-Hook-Project"); errID != "" && projID != "" {
		e.ErrorID, e.ProjectID = errID, projID
	}
	if IsFailure(a.ResponseCode) {
		e.RequestHeaders = make(map[string]string, len(a.RequestHeader))
		for k, v := range a.RequestHeader {
			if len(v) > 0 {
				e.RequestHeaders[k] = Cut(v[0])
			}
		}
		req, resp := Cut(string(a.RequestBody)), Cut(string(a.ResponseBody))
		e.RequestBody, e.ResponseBody = &req, &resp
	}
	return e
}

// Cut returns s cut to MaxFieldChars characters (runes, as Python counts).
func Cut(s string) string {
	if len(s) <= MaxFieldChars {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxFieldChars {
			return s[:i]
		}
		n++
	}
	return s
}
