package breaker

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// errDay returns a day with only errors, the building block of an error streak.
func errDay() Day { return Day{Error: 1} }

// streak returns 7 error days (today … today−6).
func streak() []Day {
	days := make([]Day, windowDays)
	for i := range days {
		days[i] = errDay()
	}
	return days
}

func TestIsBrokenErrorStreak(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		days []Day
		want bool
	}{
		{"exactly 7 error days", streak(), true},
		{"7 days with many errors", func() []Day {
			d := streak()
			for i := range d {
				d[i].Error = 500
			}
			return d
		}(), true},
		{"6 error days and no traffic today", func() []Day {
			d := streak()
			d[0] = Day{}
			return d
		}(), false},
		{"6 error days and no traffic on today-6", func() []Day {
			d := streak()
			d[6] = Day{}
			return d
		}(), false},
		{"no traffic in the middle breaks the streak", func() []Day {
			d := streak()
			d[3] = Day{}
			return d
		}(), false},
		{"only 6 days given", streak()[:6], false},
		{"nil days", nil, false},
		{"extra days beyond the 7th are ignored", append(streak(), Day{Success: 1}), true},
		{"no traffic at all", make([]Day, windowDays), false},
		{"timeouts never count as errors: 7 timeout days below threshold", func() []Day {
			d := make([]Day, windowDays)
			for i := range d {
				d[i] = Day{Timeout: DefaultTimeoutThreshold - 1}
			}
			return d
		}(), false},
		{"a timeout-only day breaks the error streak", func() []Day {
			d := streak()
			d[2] = Day{Timeout: 5}
			return d
		}(), false},
		{"timeouts beside errors do not break the streak", func() []Day {
			d := streak()
			d[2] = Day{Error: 1, Timeout: 5}
			return d
		}(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IsBroken(tc.days, DefaultTimeoutThreshold); got != tc.want {
				t.Errorf("IsBroken(%+v) = %v, want %v", tc.days, got, tc.want)
			}
		})
	}
}

func TestIsBrokenSuccessOnAnyDay(t *testing.T) {
	t.Parallel()
	for i := range windowDays {
		t.Run(fmt.Sprintf("success on today-%d", i), func(t *testing.T) {
			t.Parallel()
			// A success on an otherwise failing day.
			d := streak()
			d[i].Success = 1
			if IsBroken(d, DefaultTimeoutThreshold) {
				t.Errorf("IsBroken with a success on day %d = true, want false", i)
			}
			// A success-only day.
			d = streak()
			d[i] = Day{Success: 1}
			if IsBroken(d, DefaultTimeoutThreshold) {
				t.Errorf("IsBroken with a success-only day %d = true, want false", i)
			}
		})
	}
}

func TestIsBrokenTimeoutThreshold(t *testing.T) {
	t.Parallel()
	for _, threshold := range []int64{1, 3, DefaultTimeoutThreshold} {
		for i := range windowDays {
			t.Run(fmt.Sprintf("threshold %d on today-%d", threshold, i), func(t *testing.T) {
				t.Parallel()
				d := make([]Day, windowDays)
				d[i].Timeout = threshold - 1
				if IsBroken(d, threshold) {
					t.Errorf("%d timeouts on day %d with threshold %d: broken, want not", threshold-1, i, threshold)
				}
				d[i].Timeout = threshold
				if !IsBroken(d, threshold) {
					t.Errorf("%d timeouts on day %d with threshold %d: not broken, want broken", threshold, i, threshold)
				}
				// Successes the same day do not save an app from timeouts.
				d[i].Success = 100
				if !IsBroken(d, threshold) {
					t.Errorf("%d timeouts and successes on day %d: not broken, want broken", threshold, i)
				}
			})
		}
	}
}

func TestIsBrokenDefaultThreshold(t *testing.T) {
	t.Parallel()
	d := make([]Day, windowDays)
	d[4].Timeout = DefaultTimeoutThreshold - 1
	if IsBroken(d, 0) {
		t.Error("threshold 0 with 999 timeouts: broken, want not (0 means the default)")
	}
	d[4].Timeout = DefaultTimeoutThreshold
	if !IsBroken(d, 0) {
		t.Error("threshold 0 with 1000 timeouts: not broken, want broken (0 means the default)")
	}
}

// TestIsBrokenWithClock walks an injected clock over a fixed history of error
// days, checking that the 7-day window moves at UTC midnight.
func TestIsBrokenWithClock(t *testing.T) {
	t.Parallel()
	// Error days 2026-11-21 … 2026-11-27 (7 days), nothing else.
	history := map[string]Day{}
	last := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := range 7 {
		history[last.AddDate(0, 0, -i).Format(time.DateOnly)] = errDay()
	}
	window := func(now time.Time) []Day {
		days := make([]Day, windowDays)
		for i := range days {
			days[i] = history[now.UTC().AddDate(0, 0, -i).Format(time.DateOnly)]
		}
		return days
	}
	tests := []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC), false}, // window 11-20 … 11-26, 11-20 empty
		{time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2026, 11, 27, 23, 59, 59, 999999999, time.UTC), true},
		{time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), false}, // today 11-28 has no traffic
		// 2026-11-28 03:00 at +05:00 is still 2026-11-27 in UTC.
		{time.Date(2026, 11, 28, 3, 0, 0, 0, time.FixedZone("+05", 5*3600)), true},
		// 2026-11-27 20:00 at −05:00 is already 2026-11-28 in UTC.
		{time.Date(2026, 11, 27, 20, 0, 0, 0, time.FixedZone("-05", -5*3600)), false},
	}
	for _, tc := range tests {
		if got := IsBroken(window(tc.now), DefaultTimeoutThreshold); got != tc.want {
			t.Errorf("now %s: IsBroken = %v, want %v", tc.now.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want Outcome
	}{
		{0, Timeout},
		{100, Success},
		{200, Success},
		{204, Success},
		{299, Success},
		{301, None},
		{399, None},
		{400, Error},
		{404, Error},
		{429, None},
		{499, Error},
		{500, None},
		{503, None},
		{504, None},
		// Not HTTP status codes: never counted.
		{-1, None},
		{99, None},
		{600, None},
	}
	for _, tc := range tests {
		if got := Classify(tc.code); got != tc.want {
			t.Errorf("Classify(%d) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		event  string
		want   bool
	}{
		{0, "issue.created", false},
		{1, "issue.created", false},
		{2, "issue.created", true},
		{0, "event_alert.triggered", false},
		{1, "event_alert.triggered", false},
		{2, "event_alert.triggered", false},
		{StatusInternal, "error.created", true},
		{StatusInternal, "event_alert", true}, // not an event_alert.* event
	}
	for _, tc := range tests {
		if got := Counts(tc.status, tc.event); got != tc.want {
			t.Errorf("Counts(%d, %q) = %v, want %v", tc.status, tc.event, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), "sentry-app-error:7:9:2026-11-27"},
		{time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "sentry-app-error:7:9:2026-11-27"},
		{time.Date(2026, 11, 27, 23, 59, 59, 999999999, time.UTC), "sentry-app-error:7:9:2026-11-27"},
		{time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), "sentry-app-error:7:9:2026-11-28"},
		{time.Date(2026, 11, 28, 3, 0, 0, 0, time.FixedZone("+05", 5*3600)), "sentry-app-error:7:9:2026-11-27"},
		{time.Date(2026, 11, 27, 20, 0, 0, 0, time.FixedZone("-05", -5*3600)), "sentry-app-error:7:9:2026-11-28"},
	}
	for _, tc := range tests {
		if got := Key(7, 9, tc.t); got != tc.want {
			t.Errorf("Key(7, 9, %s) = %q, want %q", tc.t.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}

func TestDayKeys(t *testing.T) {
	t.Parallel()
	// Crossing a month and a leap day.
	now := time.Date(2028, 3, 2, 0, 0, 0, 0, time.UTC)
	got := dayKeys(7, 9, now, 4)
	want := []string{
		"sentry-app-error:7:9:2028-03-02",
		"sentry-app-error:7:9:2028-03-01",
		"sentry-app-error:7:9:2028-02-29",
		"sentry-app-error:7:9:2028-02-28",
	}
	if !slices.Equal(got, want) {
		t.Errorf("dayKeys = %q, want %q", got, want)
	}
	// The window follows the UTC day of a non-UTC clock.
	local := time.Date(2028, 3, 1, 20, 0, 0, 0, time.FixedZone("-05", -5*3600)) // 2028-03-02T01:00Z
	if got := dayKeys(7, 9, local, 4); !slices.Equal(got, want) {
		t.Errorf("dayKeys(non-UTC) = %q, want %q", got, want)
	}
	if n := len(dayKeys(1, 1, now, clearDays)); n != 30 {
		t.Errorf("len(dayKeys(clearDays)) = %d, want 30", n)
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	for o, want := range map[Outcome]string{None: "none", Success: "success", Error: "error", Timeout: "timeout", Outcome(9): "Outcome(9)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}
