//go:build !faults

package tasks

// faultAfterDisableCommit does nothing outside the "faults" build (see
// disable_fault.go).
func faultAfterDisableCommit() {}
