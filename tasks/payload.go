// Package tasks defines hookworker's asynq tasks: their type names, queues
// and payloads, the constructors producers call, and the handlers the worker
// runs.
package tasks

import (
	"math"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/producer"
)

// Task types and queues (flow.md §1, §8).
const (
	TypeResourceChange = "sentry_apps:send_resource_change_webhook"
	TypeSendEmail      = "email:send_email"
	QueueAppPlatform   = "app_platform"
	QueueEmail         = "email"
)

// MaxJSONDepth is the deepest nesting a payload may have; deeper payloads
// are archived rather than parsed.
const MaxJSONDepth = producer.MaxJSONDepth

// ResourceChange is the payload of a send_resource_change_webhook task
// (producer.ResourceChange).
type ResourceChange = producer.ResourceChange

// TaskMaxRetry is the asynq MaxRetry of resource-change tasks: the highest
// WEBHOOK_MAX_RETRIES the configuration accepts, so that the worker's own
// limit, whatever it is set to, is the one that ends a task.
const TaskMaxRetry = 100

// NewResourceChangeTask validates p and returns the task producers enqueue.
// It goes to the app_platform queue; the worker applies its own retry limit
// (WEBHOOK_MAX_RETRIES), so MaxRetry here is only an upper bound.
func NewResourceChangeTask(p ResourceChange, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := EncodeResourceChange(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeResourceChange, b, append([]asynq.Option{asynq.Queue(QueueAppPlatform), asynq.MaxRetry(TaskMaxRetry)}, opts...)...), nil
}

// NewResourceChangeTaskFromJSON validates an already encoded payload (at
// most maxBytes; 0: no limit) and returns its task without re-encoding it:
// the cheap path for producers that hold JSON already, such as
// `enqueue bulk`.
func NewResourceChangeTaskFromJSON(b []byte, maxBytes int, opts ...asynq.Option) (*asynq.Task, error) {
	if _, err := DecodeResourceChange(b, maxBytes); err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeResourceChange, b, append([]asynq.Option{asynq.Queue(QueueAppPlatform), asynq.MaxRetry(TaskMaxRetry)}, opts...)...), nil
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
	if maxBytes == 0 {
		maxBytes = math.MaxInt
	}
	return producer.Decode(b, maxBytes)
}
