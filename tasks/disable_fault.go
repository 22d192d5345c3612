//go:build faults

package tasks

import (
	"os"
	"syscall"
)

// FaultKillAfterDisableCommit is the HOOKWORKER_FAULT value that makes a
// worker built with the "faults" tag kill itself (SIGKILL) right after a
// disable committed, before the owners' e-mails are enqueued: `make faults`
// checks that they are sent all the same, once, after a restart.
const FaultKillAfterDisableCommit = "kill-after-disable-commit"

// faultAfterDisableCommit runs right after the disable's commit. Only the
// "faults" build has this version; the normal build's does nothing.
func faultAfterDisableCommit() {
	if os.Getenv("HOOKWORKER_FAULT") == FaultKillAfterDisableCommit {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; go no further
	}
}
