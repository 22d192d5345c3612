package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// wantFetchers: one server idle; up at once with a backlog or a flow; down
// by one per tick; never past Max.
func TestWantFetchers(t *testing.T) {
	t.Parallel()
	tick := 100 * time.Millisecond
	for _, tc := range []struct {
		name string
		load fetcherLoad
		want int
	}{
		{"idle stays at one", fetcherLoad{Running: 1, Max: 32, Tick: tick}, 1},
		{"a lone task adds none", fetcherLoad{Running: 1, Max: 32, Started: 1, Tick: tick}, 1},
		{"199/s adds none", fetcherLoad{Running: 1, Max: 32, Started: 199, Tick: time.Second}, 1},
		{"200/s adds one", fetcherLoad{Running: 1, Max: 32, Started: 200, Tick: time.Second}, 2},
		{"1,000/s keeps six", fetcherLoad{Running: 6, Max: 32, Started: 100, Tick: tick}, 6},
		{"1,000/s from idle jumps to six", fetcherLoad{Running: 1, Max: 32, Started: 100, Tick: tick}, 6},
		{"one pending task adds one", fetcherLoad{Running: 1, Max: 32, Pending: 1, Tick: tick}, 2},
		{"a backlog jumps at once", fetcherLoad{Running: 1, Max: 32, Pending: 640, Tick: tick}, 11},
		{"a large backlog takes all", fetcherLoad{Running: 1, Max: 32, Pending: 20000, Tick: tick}, 32},
		{"a full drain keeps all", fetcherLoad{Running: 32, Max: 32, Started: 1200, Tick: tick}, 32},
		{"the flow stops: down by one", fetcherLoad{Running: 32, Max: 32, Tick: tick}, 31},
		{"from two to one", fetcherLoad{Running: 2, Max: 32, Tick: tick}, 1},
		{"Max 1 never adds", fetcherLoad{Running: 1, Max: 1, Pending: 1000, Started: 1000, Tick: tick}, 1},
		{"a lowered Max is followed one by one", fetcherLoad{Running: 8, Max: 4, Pending: 1000, Tick: tick}, 7},
		{"a zero tick does not divide by zero", fetcherLoad{Running: 1, Max: 4, Started: 1}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, wantFetchers(tc.load))
		})
	}
}
