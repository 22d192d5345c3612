package tasks_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/tasks"
)

func TestPermanentError(t *testing.T) {
	t.Parallel()
	cause := errors.New("bad payload")
	err := fmt.Errorf("wrapped: %w", tasks.Permanent(cause))
	require.ErrorIs(t, err, asynq.SkipRetry, "asynq archives it")
	require.ErrorIs(t, err, cause)
	var pe *tasks.PermanentError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "wrapped: bad payload", err.Error(), "the message is the cause's, without asynq's")
}

func TestRetryAfterError(t *testing.T) {
	t.Parallel()
	cause := errors.New("webhook answered 429")
	err := fmt.Errorf("x: %w", &tasks.RetryAfterError{Delay: time.Minute, Err: cause})
	require.ErrorIs(t, err, cause)
	require.NotErrorIs(t, err, asynq.SkipRetry)
	require.Equal(t, "x: webhook answered 429", err.Error())
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"0", 0, true},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"3600", time.Hour, true},
		{"3601", time.Hour, true},
		{"86400", time.Hour, true},
		{"99999999999999999999", time.Hour, true}, // beyond int64: still seconds
		{"-99999999999999999999", 0, false},
		{"9223372036854775807", time.Hour, true},
		{date(90 * time.Second), 90 * time.Second, true},
		{date(2 * time.Hour), time.Hour, true},
		{date(-time.Minute), 0, true}, // a date in the past: retry now
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{now.Add(45 * time.Second).Format(time.ANSIC), 45 * time.Second, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"-3600", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"10s", 0, false},
		{"Fri, 32 Nov 2026 17:00:00 GMT", 0, false},
	}
	for _, tt := range tests {
		got, ok := tasks.ParseRetryAfter(tt.in, now)
		require.Equal(t, tt.wantOK, ok, "%q", tt.in)
		require.Equal(t, tt.want, got, "%q", tt.in)
	}
}

func TestRetryPolicyWebhookJitter(t *testing.T) {
	t.Parallel()
	p := tasks.RetryPolicy{WebhookDelay: 5 * time.Minute, MailDelay: 30 * time.Second}
	task := asynq.NewTask(tasks.TypeResourceChange, nil)
	lo, hi := 270*time.Second, 330*time.Second
	seen := map[time.Duration]bool{}
	var below, above bool
	for n := range 2000 {
		d := p.Delay(n%5, errors.New("webhook answered 500"), task)
		require.GreaterOrEqual(t, d, lo)
		require.LessOrEqual(t, d, hi)
		seen[d] = true
		below = below || d < 5*time.Minute-20*time.Second
		above = above || d > 5*time.Minute+20*time.Second
	}
	require.Greater(t, len(seen), 100, "the delay is jittered")
	require.True(t, below && above, "the jitter spans both sides of the delay")

	require.Zero(t, tasks.RetryPolicy{}.Delay(0, errors.New("x"), task))
}

func TestRetryPolicyRetryAfter(t *testing.T) {
	t.Parallel()
	p := tasks.RetryPolicy{WebhookDelay: 5 * time.Minute, MailDelay: 30 * time.Second}
	for _, typ := range []string{tasks.TypeResourceChange, tasks.TypeSendEmail} {
		task := asynq.NewTask(typ, nil)
		err := fmt.Errorf("attempt: %w", &tasks.RetryAfterError{Delay: 7 * time.Second, Err: errors.New("429")})
		for n := range 4 {
			require.Equal(t, 7*time.Second, p.Delay(n, err, task), "Retry-After is honoured exactly, without jitter")
		}
		require.Zero(t, p.Delay(0, &tasks.RetryAfterError{Err: errors.New("429")}, task))
	}
}

func TestRetryPolicyMailDoubling(t *testing.T) {
	t.Parallel()
	p := tasks.RetryPolicy{WebhookDelay: 5 * time.Minute, MailDelay: 30 * time.Second}
	task := asynq.NewTask(tasks.TypeSendEmail, nil)
	err := errors.New("421 try later")
	// asynq passes n = retries so far: 0 before the first retry.
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for n, w := range want {
		require.Equal(t, w, p.Delay(n, err, task), "retry %d", n+1)
	}
	require.Equal(t, time.Hour, p.Delay(1000, err, task), "capped, no overflow")
}
