package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// defaultRetryWindow is how long enqueue keeps trying while Redis does not
// answer (a Sentinel failover takes a few seconds, a cluster's a few more)
// before it gives up with a non-zero exit.
const defaultRetryWindow = 30 * time.Second

// Backoff between attempts: doubled from the first up to the last.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// errUnavailable marks an enqueue given up because Redis did not answer
// for the whole retry window.
var errUnavailable = errors.New("Redis did not confirm")

// transientMarks are the parts of the errors Redis and go-redis give while
// a node is down, loading or failing over; such an attempt is worth
// repeating. Anything else (a payload Redis refused, a command it does not
// know) fails at once.
var transientMarks = []string{
	"connection refused", "connection reset", "broken pipe", "i/o timeout", "EOF", "use of closed network connection",
	"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS",
	"all sentinels are unreachable", "no reachable", "failover", "pool timeout", "no route to host",
}

// transient reports whether err looks like Redis being unreachable for a
// moment rather than refusing the request.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	for _, m := range transientMarks {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// retry calls attempt until it succeeds, fails for good, or window has
// passed since the first attempt, sleeping with exponential backoff in
// between. It returns the last error and how many attempts were made.
func retry(ctx context.Context, window time.Duration, attempt func(context.Context) error) (int, error) {
	deadline := time.Now().Add(window)
	backoff := firstBackoff
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := attempt(actx)
		cancel()
		if err == nil || !transient(err) || time.Now().Add(backoff).After(deadline) {
			return n, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, err
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// enqueueRetrying enqueues task under a task id chosen here, repeating the
// attempt through a Redis outage or failover for up to window. The id makes
// a repeat safe: if an attempt reached Redis although its answer was lost,
// the next one finds the id taken (asynq.ErrTaskIDConflict) and the task is
// there once. It returns the id, or an error that says what happened: never
// a silent loss.
func enqueueRetrying(ctx context.Context, client *asynq.Client, task *asynq.Task, window time.Duration) (string, error) {
	id := uuid.NewString()
	n, err := retry(ctx, window, func(ctx context.Context) error {
		_, err := client.EnqueueContext(ctx, task, asynq.TaskID(id))
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			// Only a lost answer to an earlier attempt of ours can have
			// taken a fresh uuid: the task is in Redis.
			return nil
		}
		return err
	})
	switch {
	case err == nil:
		return id, nil
	case transient(err):
		return "", fmt.Errorf("%w task %s in %d attempts over %s (an outage or a failover that did not end in time): %w; "+
			"the task was not enqueued unless the last attempt reached Redis before failing (then it is delivered once, as %s)",
			errUnavailable, id, n, window.Round(time.Second), err, id)
	default:
		return "", err
	}
}
