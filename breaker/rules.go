// Package breaker is the circuit breaker that disables internal sentry apps
// whose webhook endpoint is persistently broken, a port of Sentry's
// sentry-app "broken integration" detection.
//
// Each delivery attempt of a counted app (see Counts) is classified (see
// Classify) and added to a per-app, per-organization, per-UTC-day Redis hash
// (see Key). After an error or a timeout the caller asks Broken whether the
// last seven UTC days (today … today−6) satisfy one of the two rules in
// IsBroken; if so the caller disables the app and calls Clear.
//
// The pure rules live in rules.go so they can be tested without Redis; the
// Redis reads and writes live in breaker.go.
package breaker

import (
	"fmt"
	"strings"
	"time"
)

// StatusInternal is the sentry_apps.status value of internal integrations,
// the only ones the breaker counts: published and unpublished apps are owned
// by third parties and are never disabled automatically.
const StatusInternal = 2

// DefaultTimeoutThreshold is BROKEN_TIMEOUT_THRESHOLD's default: the number of
// timeouts in a single UTC day that marks an app broken on its own.
const DefaultTimeoutThreshold = 1000

// windowDays is the number of UTC days (today … today−6) the rules look at.
const windowDays = 7

// clearDays is the number of daily keys (today … today−29) deleted when an app
// is found broken, so a re-enabled app starts with a clean history.
const clearDays = 30

// fenceFirst … fenceLast are the days, relative to a reset's, whose keys get
// a fence: the keys that deliveries in flight at the reset can still write.
// A delivery picks its key when it ends, at most a task timeout after the
// reset, so today's and tomorrow's; yesterday's too, for a delivery that
// picked its key just before midnight and reaches Redis just after a reset
// past it.
const (
	fenceFirst = -1
	fenceLast  = 1
)

// keyTTL is the lifetime of a daily key, 8 days (691200 s): one day longer
// than the window so the oldest day is still readable on its last day.
const keyTTL = 691200 * time.Second

// Hash field names of a daily key.
const (
	fieldSuccess = "success_count"
	fieldError   = "error_count"
	fieldTimeout = "timeout_count"
)

// eventAlertPrefix marks metric-alert webhooks, whose responses the breaker
// ignores (Sentry does not count them either).
const eventAlertPrefix = "event_alert."

// Outcome classifies one delivery attempt for the breaker: which counter, if
// any, the attempt increments.
type Outcome int

// The possible outcomes of a delivery attempt.
const (
	// None means the attempt is not counted (3xx, 429, 5xx, or a code that
	// is not an HTTP status), and no breaker check follows.
	None Outcome = iota
	// Success means the endpoint answered 1xx or 2xx; it increments
	// success_count and breaks an error streak for that day.
	Success
	// Error means the endpoint answered 4xx other than 429; it increments
	// error_count and is followed by a breaker check.
	Error
	// Timeout means the request timed out or could not connect; it
	// increments timeout_count and is followed by a breaker check.
	Timeout
)

// String returns the outcome's name, for logs and test failures.
func (o Outcome) String() string {
	switch o {
	case None:
		return "none"
	case Success:
		return "success"
	case Error:
		return "error"
	case Timeout:
		return "timeout"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// field returns the hash field the outcome increments, or "" for None and
// unknown values.
func (o Outcome) field() string {
	switch o {
	case Success:
		return fieldSuccess
	case Error:
		return fieldError
	case Timeout:
		return fieldTimeout
	default:
		return ""
	}
}

// Classify maps an HTTP status code to an Outcome, so that every caller
// applies the same table. Code 0 stands for a timeout or connection error.
//
//	0              → Timeout
//	100–299        → Success
//	300–399        → None
//	400–499 ≠ 429  → Error
//	429, 500–599   → None (the endpoint is throttled or down, not broken)
//	anything else  → None
func Classify(code int) Outcome {
	switch {
	case code == 0:
		return Timeout
	case code >= 100 && code <= 299:
		return Success
	case code == 429:
		return None
	case code >= 400 && code <= 499:
		return Error
	default:
		return None
	}
}

// Counts reports whether a delivery of event for an app with this
// sentry_apps.status is counted by the breaker at all: only internal apps
// (StatusInternal) are, and never for "event_alert.*" webhooks, so that
// alert-rule failures cannot disable an integration.
func Counts(appStatus int, event string) bool {
	return appStatus == StatusInternal && !strings.HasPrefix(event, eventAlertPrefix)
}

// Key returns the daily Redis key of appID/orgID for the UTC day of t,
// "sentry-app-error:<app_id>:<org_id>:<YYYY-MM-DD>". The day is taken in UTC
// whatever t's location, so every worker agrees on day boundaries.
func Key(appID, orgID int64, t time.Time) string {
	return fmt.Sprintf("sentry-app-error:%d:%d:%s", appID, orgID, t.UTC().Format(time.DateOnly))
}

// EpochKey returns the key of appID's epoch,
// "hookworker:breaker-epoch:<app_id>": a string holding EpochMicros of the
// last Clear or Reset, kept 8 days, for operators and Breaker.Epoch. The
// counters themselves are guarded by the fences of their keys (see
// FenceKey), which Reset moves at the same time.
func EpochKey(appID int64) string {
	return fmt.Sprintf("hookworker:breaker-epoch:%d", appID)
}

// FenceKey returns the key of the fence of the daily key key,
// "hookworker:breaker-fence:{<key>}": a string holding EpochMicros of the
// last Reset that reached key, kept as long as a daily key. Attempts that
// started before it are not counted in key (see Increment). The braces make
// key's whole name the hash tag, and key itself has none, so the fence lives
// in key's hash slot on Redis Cluster (CRC16 of the same bytes) and one
// script can check it and increment key.
func FenceKey(key string) string {
	return "hookworker:breaker-fence:{" + key + "}"
}

// EpochMicros is t as the epoch key and the counting script compare it:
// microseconds since 1970 (exact in Lua's doubles until the year 2255).
func EpochMicros(t time.Time) int64 {
	return t.UnixMicro()
}

// dayKeys returns the keys of the n UTC days ending with now's:
// keys[0] is today's, keys[i] is today−i's.
func dayKeys(appID, orgID int64, now time.Time, n int) []string {
	now = now.UTC()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = Key(appID, orgID, now.AddDate(0, 0, -i))
	}
	return keys
}

// Day is one UTC day's counters, as stored in the daily key's hash (a missing
// key or field reads as zero).
type Day struct {
	Success, Error, Timeout int64
}

// IsBroken reports whether the counters of days[0]=today … days[6]=today−6
// mark the app broken. It is broken when
//
//   - any of the 7 days has Timeout >= timeoutThreshold, or
//   - every one of the 7 days has Error > 0 and Success == 0.
//
// A day without traffic breaks the error streak, and timeouts never count as
// errors. Fewer than 7 days is never broken; days beyond the 7th are ignored.
// A timeoutThreshold <= 0 means DefaultTimeoutThreshold.
func IsBroken(days []Day, timeoutThreshold int64) bool {
	if len(days) < windowDays {
		return false
	}
	if timeoutThreshold <= 0 {
		timeoutThreshold = DefaultTimeoutThreshold
	}
	days = days[:windowDays]
	for _, d := range days {
		if d.Timeout >= timeoutThreshold {
			return true
		}
	}
	for _, d := range days {
		if d.Error <= 0 || d.Success != 0 {
			return false
		}
	}
	return true
}
