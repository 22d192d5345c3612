package breaker

import (
	"context"
	"testing"
	"time"

	"github.com/hookworker/hookworker/internal/testenv"
)

// at returns 2026-11-<day> hh:mm:ss UTC.
func at(day, hh, mm, ss int) time.Time { return time.Date(2026, 11, day, hh, mm, ss, 0, time.UTC) }

// delivery is one attempt of the rule table: when, for which app status and
// event, and what the endpoint answered (0 = timeout).
type delivery struct {
	t      time.Time
	status int
	event  string
	code   int
}

// internalErrorsOn returns one 400 of an internal app per given day of
// November 2026, at hh:mm:ss.
func internalErrorsOn(hh, mm, ss int, days ...int) []delivery {
	var out []delivery
	for _, d := range days {
		out = append(out, delivery{t: at(d, hh, mm, ss), status: StatusInternal, event: "issue.created", code: 400})
	}
	return out
}

// TestRuleTable runs the breaker's rules end to end on Redis with an
// injected clock: each case records its deliveries the way the worker does
// (Classify, then Record only when Counts) and asks Broken at check.
func TestRuleTable(t *testing.T) {
	t.Parallel()
	week := []int{21, 22, 23, 24, 25, 26, 27} // seven days ending 2026-11-27
	tests := []struct {
		name      string
		threshold int64
		history   []delivery
		check     time.Time
		want      bool
	}{
		{"exactly 7 error days", 0, internalErrorsOn(12, 0, 0, week...), at(27, 12, 0, 0), true},
		{"6 error days", 0, internalErrorsOn(12, 0, 0, week[1:]...), at(27, 12, 0, 0), false},
		{"6 error days, today's error still to come", 0, internalErrorsOn(12, 0, 0, week[:6]...), at(27, 12, 0, 0), false},
		{"a success on the first day", 0, append(internalErrorsOn(12, 0, 0, week...),
			delivery{at(21, 13, 0, 0), StatusInternal, "issue.created", 200}), at(27, 12, 0, 0), false},
		{"a success on the middle day", 0, append(internalErrorsOn(12, 0, 0, week...),
			delivery{at(24, 13, 0, 0), StatusInternal, "issue.created", 204}), at(27, 12, 0, 0), false},
		{"a success today", 0, append(internalErrorsOn(12, 0, 0, week...),
			delivery{at(27, 11, 0, 0), StatusInternal, "issue.created", 201}), at(27, 12, 0, 0), false},
		{"a gap breaks the streak", 0, internalErrorsOn(12, 0, 0, 20, 21, 22, 24, 25, 26, 27), at(27, 12, 0, 0), false},
		{"3xx, 429 and 5xx days are gaps", 0, append(internalErrorsOn(12, 0, 0, 21, 22, 23, 25, 26, 27),
			delivery{at(24, 1, 0, 0), StatusInternal, "issue.created", 302},
			delivery{at(24, 2, 0, 0), StatusInternal, "issue.created", 429},
			delivery{at(24, 3, 0, 0), StatusInternal, "issue.created", 503}), at(27, 12, 0, 0), false},
		{"timeouts: threshold-1", 3, []delivery{
			{at(25, 1, 0, 0), StatusInternal, "issue.created", 0},
			{at(25, 2, 0, 0), StatusInternal, "issue.created", 0},
		}, at(27, 12, 0, 0), false},
		{"timeouts: threshold", 3, []delivery{
			{at(25, 1, 0, 0), StatusInternal, "issue.created", 0},
			{at(25, 2, 0, 0), StatusInternal, "issue.created", 0},
			{at(25, 3, 0, 0), StatusInternal, "issue.created", 0},
		}, at(27, 12, 0, 0), true},
		{"timeouts are per UTC day, not summed across midnight", 3, []delivery{
			{at(25, 23, 59, 58), StatusInternal, "issue.created", 0},
			{at(25, 23, 59, 59), StatusInternal, "issue.created", 0},
			{at(26, 0, 0, 0), StatusInternal, "issue.created", 0},
		}, at(27, 12, 0, 0), false},
		{"timeouts on today-6 still count", 2, []delivery{
			{at(21, 0, 0, 0), StatusInternal, "issue.created", 0},
			{at(21, 23, 59, 59), StatusInternal, "issue.created", 0},
		}, at(27, 23, 59, 59), true},
		{"timeouts on today-7 no longer count", 2, []delivery{
			{at(21, 0, 0, 0), StatusInternal, "issue.created", 0},
			{at(21, 23, 59, 59), StatusInternal, "issue.created", 0},
		}, at(28, 0, 0, 0), false},
		{"errors at 23:59:59, checked at 23:59:59 of the 7th day", 0, internalErrorsOn(23, 59, 59, week...), at(27, 23, 59, 59), true},
		{"errors at 23:59:59, checked at 00:00:00 of the next day", 0, internalErrorsOn(23, 59, 59, week...), at(28, 0, 0, 0), false},
		{"errors at 00:00:00, checked at 00:00:00 of the 7th day", 0, internalErrorsOn(0, 0, 0, week...), at(27, 0, 0, 0), true},
		{"errors at 00:00:00, checked at 23:59:59 of the day before", 0, internalErrorsOn(0, 0, 0, week[:6]...), at(26, 23, 59, 59), false},
		{"published app, 7 error days", 0, func() []delivery {
			d := internalErrorsOn(12, 0, 0, week...)
			for i := range d {
				d[i].status = 1
			}
			return d
		}(), at(27, 12, 0, 0), false},
		{"unpublished app, 7 error days", 0, func() []delivery {
			d := internalErrorsOn(12, 0, 0, week...)
			for i := range d {
				d[i].status = 0
			}
			return d
		}(), at(27, 12, 0, 0), false},
		{"event_alert.triggered errors are not counted", 0, func() []delivery {
			d := internalErrorsOn(12, 0, 0, week...)
			d[6].event = "event_alert.triggered"
			return d
		}(), at(27, 12, 0, 0), false},
		{"event_alert.triggered timeouts are not counted", 1, []delivery{
			{at(27, 1, 0, 0), StatusInternal, "event_alert.triggered", 0},
		}, at(27, 12, 0, 0), false},
		{"published app timeouts are not counted", 1, []delivery{
			{at(27, 1, 0, 0), 1, "issue.created", 0},
		}, at(27, 12, 0, 0), false},
	}
	// One Redis database for the table; each case has its own app id.
	rdb := testenv.NewRedis(t).Client
	for i, tc := range tests {
		appID := int64(100 + i)
		t.Run(tc.name, func(t *testing.T) {
			testenv.Parallel(t)
			clk := &fakeClock{}
			b := New(rdb, Options{Now: func() time.Time { return clk.t }, TimeoutThreshold: tc.threshold})
			for _, d := range tc.history {
				if !Counts(d.status, d.event) {
					continue
				}
				clk.t = d.t
				pipe := rdb.Pipeline()
				b.Record(pipe, appID, 9, Classify(d.code))
				if pipe.Len() > 0 {
					if _, err := pipe.Exec(context.Background()); err != nil {
						t.Fatalf("record %+v: %v", d, err)
					}
				}
			}
			clk.t = tc.check
			if got := broken(t, b, appID, 9); got != tc.want {
				t.Errorf("Broken at %s = %v, want %v", tc.check.Format(time.RFC3339), got, tc.want)
			}
		})
	}
}
