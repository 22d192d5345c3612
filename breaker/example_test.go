package breaker_test

import (
	"fmt"

	"github.com/hookworker/hookworker/breaker"
)

func ExampleIsBroken() {
	// days[0] is today, days[6] is six days ago.
	errorsEveryDay := []breaker.Day{
		{Error: 3}, {Error: 1}, {Error: 8}, {Error: 2}, {Error: 1}, {Error: 5}, {Error: 1},
	}
	fmt.Println(breaker.IsBroken(errorsEveryDay, breaker.DefaultTimeoutThreshold))

	// One success on any day saves the app.
	errorsEveryDay[4].Success = 1
	fmt.Println(breaker.IsBroken(errorsEveryDay, breaker.DefaultTimeoutThreshold))

	// A single day at the timeout threshold breaks it on its own.
	timeouts := make([]breaker.Day, 7)
	timeouts[6].Timeout = breaker.DefaultTimeoutThreshold
	fmt.Println(breaker.IsBroken(timeouts, breaker.DefaultTimeoutThreshold))
	// Output:
	// true
	// false
	// true
}
