// Package lifecycle changes an integration's state on purpose: it re-enables
// a disabled app and clears its breaker counters, the operator's side of the
// automatic disable in package tasks.
package lifecycle

import "errors"

// ErrNotFound is returned for a slug that names no app.
var ErrNotFound = errors.New("no such app")

// ErrAlreadyEnabled is returned by Enable for an app that is not disabled.
var ErrAlreadyEnabled = errors.New("app is already enabled")
