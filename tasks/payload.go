// Package tasks defines hookworker's asynq tasks: their type names, queues
// and payloads, the constructors producers call, and the handlers the worker
// runs.
package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/event"
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
const MaxJSONDepth = 64

// ResourceChange is the payload of a send_resource_change_webhook task.
type ResourceChange struct {
	// InstallationID is the sentry_app_installations row to deliver to.
	InstallationID int64 `json:"installation_id"`
	// Event is "<resource>.<action>", e.g. issue.created.
	Event string `json:"event"`
	// Data is the resource payload keyed by resource name, a JSON object.
	Data json.RawMessage `json:"data,omitempty"`
	// ProjectID is the project the change belongs to, for project-limited hooks.
	ProjectID *int64 `json:"project_id,omitempty"`
	// Actor replaces the default actor of the body when set (a JSON object).
	Actor json.RawMessage `json:"actor,omitempty"`
}

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

// EncodeResourceChange validates p and encodes it without HTML escaping.
func EncodeResourceChange(p ResourceChange) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (p ResourceChange) validate() error {
	if p.InstallationID <= 0 {
		return errors.New("payload: installation_id must be a positive integer")
	}
	if _, _, err := event.Parse(p.Event); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if !isObjectOrAbsent(p.Data) {
		return errors.New("payload: data must be a JSON object")
	}
	if !isObjectOrAbsent(p.Actor) {
		return errors.New("payload: actor must be a JSON object")
	}
	return nil
}

// rawResourceChange decodes every field raw so errors can say precisely
// what is wrong.
type rawResourceChange struct {
	InstallationID json.RawMessage `json:"installation_id"`
	Event          json.RawMessage `json:"event"`
	Data           json.RawMessage `json:"data"`
	ProjectID      json.RawMessage `json:"project_id"`
	Actor          json.RawMessage `json:"actor"`
}

// DecodeResourceChange parses and validates a task payload of at most
// maxBytes bytes (0: no limit). Every error says what is wrong with it.
func DecodeResourceChange(b []byte, maxBytes int) (ResourceChange, error) {
	var p ResourceChange
	if maxBytes > 0 && len(b) > maxBytes {
		return p, fmt.Errorf("payload: %d bytes is over the limit of %d (MAX_PAYLOAD_BYTES)", len(b), maxBytes)
	}
	d, valid := scanJSON(b)
	if !valid {
		d = depth(b) // invalid JSON is rejected below; too deep says more
	}
	if d > MaxJSONDepth {
		return p, fmt.Errorf("payload: JSON nested deeper than %d levels", MaxJSONDepth)
	}
	if string(bytes.TrimSpace(b)) == "null" {
		return p, errors.New("payload: not a JSON object")
	}
	raw, err := decodeRaw(b, valid)
	if err != nil {
		return p, err
	}
	id, err := positiveInt(raw.InstallationID)
	if err != nil {
		return p, fmt.Errorf("payload: installation_id %v", err)
	}
	p.InstallationID = id
	if len(raw.Event) == 0 || isNull(raw.Event) {
		return p, errors.New("payload: event is missing")
	}
	ev, err := jsonString(raw.Event)
	if err != nil {
		return p, errors.New("payload: event must be a string")
	}
	p.Event = ev
	if _, _, err := event.Parse(p.Event); err != nil {
		return p, fmt.Errorf("payload: %w", err)
	}
	if !isNull(raw.Data) {
		if !isObjectOrAbsent(raw.Data) {
			return p, errors.New("payload: data must be a JSON object")
		}
		p.Data = raw.Data
	}
	if !isNull(raw.Actor) {
		if !isObjectOrAbsent(raw.Actor) {
			return p, errors.New("payload: actor must be a JSON object")
		}
		p.Actor = raw.Actor
	}
	if !isNull(raw.ProjectID) {
		pid, err := positiveInt(raw.ProjectID)
		if err != nil {
			return p, fmt.Errorf("payload: project_id %v", err)
		}
		p.ProjectID = &pid
	}
	return p, nil
}

// decodeRaw splits a payload into its raw fields: the fast walk of
// splitObject, else encoding/json for its precise error messages and its
// rules on unusual input (escaped or case-folded keys).
func decodeRaw(b []byte, valid bool) (rawResourceChange, error) {
	if valid {
		if raw, ok := splitObject(b); ok {
			return raw, nil
		}
	}
	var raw rawResourceChange
	if err := json.Unmarshal(b, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return raw, errors.New("payload: not a JSON object")
		}
		return raw, fmt.Errorf("payload: not valid JSON: %v", err)
	}
	return raw, nil
}

// jsonString decodes a JSON string; one without escapes (every event name)
// is sliced out instead of going through encoding/json.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// positiveInt parses a JSON integer > 0.
func positiveInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || isNull(raw) {
		return 0, errors.New("is missing")
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("is out of the 64-bit range, got %s", clip(raw))
	}
	if err != nil {
		return 0, fmt.Errorf("must be an integer, got %s", clip(raw))
	}
	if n <= 0 {
		return 0, fmt.Errorf("must be positive, got %d", n)
	}
	return n, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func isObjectOrAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || t[0] == '{'
}

func clip(raw json.RawMessage) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

// depth returns the deepest nesting of objects and arrays in b, skipping
// strings, without allocating.
func depth(b []byte) int {
	d, maxD := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			d++
			if d > maxD {
				maxD = d
			}
		case '}', ']':
			d--
		}
	}
	return maxD
}
