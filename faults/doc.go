// Package faults holds hookworker's fault-injection tests: they build the
// real worker and enqueue binaries, start throwaway redis-server and
// PostgreSQL processes of their own on loopback, and then kill, stop and
// restart them in the middle of a run to check that no task is lost.
//
// The tests carry the build tag "faults", so the normal test command skips
// them; run them with `make faults` (scripts/test.sh -tags faults -v
// -timeout 30m ./faults/). They need redis-server on PATH, PostgreSQL's initdb and pg_ctl
// (in /usr/lib/postgresql/*/bin or on PATH) and a PostgreSQL server for
// internal/testenv databases (scripts/test.sh starts a throwaway one).
// A worker built with the tag obeys HOOKWORKER_FAULT (tasks/disable_fault.go):
// TestFaultKillAfterDisableCommit uses it to kill the worker between a
// disable's commit and the enqueue of the owners' e-mails.
// They take a few minutes: after a SIGKILL, asynq gives the killed worker's
// tasks back only when their 30 s lease has expired and the recoverer runs.
package faults
