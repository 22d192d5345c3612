// Package tasks defines hookworker's asynq tasks: their type names, queues
// and payloads, the constructors producers call, and the handlers the worker
// runs. The resource-change payload, its validation and its constructor
// live in the slim producer package; the names here are thin wrappers kept
// for the worker and existing callers.
package tasks

import (
	"math"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/producer"
)

// Task types and queues (docs: README "How a delivery flows").
const (
	TypeResourceChange = producer.TypeResourceChange
	TypeSendEmail      = "email:send_email"
	QueueAppPlatform   = producer.QueueAppPlatform
	QueueEmail         = "email"
)

// MaxJSONDepth is the deepest nesting a payload may have; deeper payloads
// are archived rather than parsed.
const MaxJSONDepth = producer.MaxJSONDepth

// ResourceChange is the payload of a send_resource_change_webhook task
// (producer.ResourceChange).
type ResourceChange = producer.ResourceChange

// TaskMaxRetry is the asynq MaxRetry of resource-change tasks
// (producer.TaskMaxRetry).
const TaskMaxRetry = producer.TaskMaxRetry

// NewResourceChangeTask validates p and returns the task producers enqueue
// (producer.NewTask): app_platform queue, TaskMaxRetry, producer.TaskTimeout.
func NewResourceChangeTask(p ResourceChange, opts ...asynq.Option) (*asynq.Task, error) {
	return producer.NewTask(p, opts...)
}

// NewResourceChangeTaskFromJSON validates an already encoded payload (at
// most maxBytes; 0: no limit) and returns its task without re-encoding it
// (producer.NewTaskFromJSON).
func NewResourceChangeTaskFromJSON(b []byte, maxBytes int, opts ...asynq.Option) (*asynq.Task, error) {
	return producer.NewTaskFromJSON(b, noLimit(maxBytes), opts...)
}

// EncodeResourceChange validates p and encodes it without HTML escaping
// (producer.Encode at the default MAX_PAYLOAD_BYTES).
func EncodeResourceChange(p ResourceChange) ([]byte, error) {
	return producer.Encode(p, producer.DefaultMaxPayloadBytes)
}

// DecodeResourceChange parses and validates a task payload of at most
// maxBytes bytes (0: no limit) with producer.Decode. Every error says what
// is wrong with it.
func DecodeResourceChange(b []byte, maxBytes int) (ResourceChange, error) {
	return producer.Decode(b, noLimit(maxBytes))
}

// noLimit maps this package's "0: no limit" to producer's explicit limit.
func noLimit(maxBytes int) int {
	if maxBytes == 0 {
		return math.MaxInt
	}
	return maxBytes
}
