package tasks

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// PermanentError archives the task at once: retrying cannot help
// (malformed payload, refused destination, spent retry budget, permanent
// SMTP failure). It matches asynq.SkipRetry.
type PermanentError struct{ Err error }

// Permanent wraps err so the task is archived, not retried.
func Permanent(err error) error { return &PermanentError{Err: err} }

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap exposes the cause and asynq.SkipRetry to errors.Is/As.
func (e *PermanentError) Unwrap() []error { return []error{e.Err, asynq.SkipRetry} }

// RetryAfterError asks for the next attempt after Delay (a receiver's
// Retry-After).
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// MaxRetryAfter bounds a receiver's Retry-After.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date, at
// most MaxRetryAfter. ok is false when it is absent or invalid.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		return MaxRetryAfter, true // more seconds than an int64 holds
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d < 0 {
			d = 0
		}
	} else {
		return 0, false
	}
	if d > MaxRetryAfter {
		d = MaxRetryAfter
	}
	return d, true
}

// RetryPolicy decides every retry delay, in one place, from the handlers'
// typed errors. Its Delay method is the server's RetryDelayFunc.
type RetryPolicy struct {
	// WebhookDelay is the delay before a webhook retry, ±10 % jitter.
	WebhookDelay time.Duration
	// MailDelay is the first e-mail retry delay, doubled per retry (capped at 1h).
	MailDelay time.Duration
}

// Delay returns how long to wait before the next attempt of t after err; n
// is how many times t has been retried so far (asynq passes 0 before the
// first retry).
func (p RetryPolicy) Delay(n int, err error, t *asynq.Task) time.Duration {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Delay
	}
	if t.Type() == TypeSendEmail {
		d := p.MailDelay
		for i := 0; i < n && d < time.Hour; i++ {
			d *= 2
		}
		return min(d, time.Hour)
	}
	return jitter(p.WebhookDelay)
}

// jitter spreads d by ±10 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
