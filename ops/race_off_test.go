//go:build !race

package ops_test

// raceOn says the race detector is on: timings mean nothing then.
const raceOn = false
