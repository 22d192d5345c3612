package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/hookworker/hookworker/event"
)

// DefaultMaxPayloadBytes is the largest encoded payload accepted when no
// other limit is given: MAX_PAYLOAD_BYTES's default (1 MiB). A worker with a
// different MAX_PAYLOAD_BYTES archives what is over its own limit.
const DefaultMaxPayloadBytes = 1 << 20

// MaxJSONDepth is the deepest nesting of objects and arrays a payload may
// have, the payload object itself included.
const MaxJSONDepth = 64

// maxEventBytes bounds the event names worth looking up: the longest known
// event is 27 bytes.
const maxEventBytes = 64

// maxQuote bounds what an error message quotes of its input.
const maxQuote = 40

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

// limit returns maxBytes, or DefaultMaxPayloadBytes when it is not positive.
func limit(maxBytes int) int {
	if maxBytes <= 0 {
		return DefaultMaxPayloadBytes
	}
	return maxBytes
}

// Encode validates p and encodes it (without HTML escaping) into at most
// maxBytes bytes (DefaultMaxPayloadBytes when maxBytes <= 0): the same rules
// Decode applies in the worker, so what Encode accepts is never archived as
// malformed. Every error starts with "payload: ".
func Encode(p ResourceChange, maxBytes int) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"data", p.Data}, {"actor", p.Actor}} {
		if len(f.raw) > limit(maxBytes) {
			return nil, tooBig(len(f.raw), limit(maxBytes)) // before copying it
		}
		if d := depth(f.raw); d+1 > MaxJSONDepth {
			return nil, tooDeep()
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > limit(maxBytes) {
		return nil, tooBig(len(b), limit(maxBytes))
	}
	return b, nil
}

// Validate applies Encode's rules to p without keeping the encoding.
func Validate(p ResourceChange, maxBytes int) error {
	_, err := Encode(p, maxBytes)
	return err
}

func (p ResourceChange) validate() error {
	if p.InstallationID <= 0 {
		return errors.New("payload: installation_id must be a positive integer")
	}
	if err := checkEvent(p.Event); err != nil {
		return err
	}
	if p.ProjectID != nil && *p.ProjectID <= 0 {
		return fmt.Errorf("payload: project_id must be positive, got %d", *p.ProjectID)
	}
	if !isObjectOrAbsent(p.Data) {
		return errors.New("payload: data must be a JSON object")
	}
	if !isObjectOrAbsent(p.Actor) {
		return errors.New("payload: actor must be a JSON object")
	}
	return nil
}

// checkEvent checks an event name, quoting at most maxQuote bytes of it.
func checkEvent(name string) error {
	if name == "" {
		return errors.New("payload: event is required")
	}
	if len(name) > maxEventBytes {
		return fmt.Errorf("payload: unknown event %s (%d bytes)", quote(name), len(name))
	}
	if _, _, err := event.Parse(name); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}

func tooBig(n, maxBytes int) error {
	return fmt.Errorf("payload: %d bytes is over the limit of %d (MAX_PAYLOAD_BYTES)", n, maxBytes)
}

func tooDeep() error {
	return fmt.Errorf("payload: JSON nested deeper than %d levels", MaxJSONDepth)
}

// Decode parses and validates a task payload of at most maxBytes bytes
// (DefaultMaxPayloadBytes when maxBytes <= 0), as the worker does before
// every delivery. The size is checked before anything else and the depth
// before parsing; the payload is then read as encoding/json reads it: keys
// match exactly (case-sensitive, after unescaping), a key given twice at
// the top level is an error naming it, and data and actor are kept as they
// came. Every error starts with "payload: " and quotes at most 40 bytes of
// input. data and actor may share b's memory.
//
// A plain payload is read by a hand-written scanner (splitFast); anything
// it does not handle, every refused payload included, by encoding/json,
// whose answers are the reference: FuzzDecodeFast checks that both give
// the same result and error for any input.
func Decode(b []byte, maxBytes int) (ResourceChange, error) {
	return decode(b, maxBytes, true)
}

// decode is Decode, with the fast path or (fast false, for the
// differential tests) encoding/json alone.
func decode(b []byte, maxBytes int, fast bool) (ResourceChange, error) {
	var p ResourceChange
	if len(b) > limit(maxBytes) {
		return p, tooBig(len(b), limit(maxBytes))
	}
	raw, ok := rawFields{}, false
	if fast {
		// What splitFast accepts is valid JSON nested MaxJSONDepth deep at
		// most, so depth's guard holds for it.
		raw, ok = splitFast(b)
	}
	if !ok {
		if depth(b) > MaxJSONDepth {
			return p, tooDeep()
		}
		var err error
		if raw, err = split(b); err != nil {
			return p, err
		}
	}
	id, err := positiveInt(raw.installationID)
	if err != nil {
		return p, fmt.Errorf("payload: installation_id %v", err)
	}
	p.InstallationID = id
	if isNull(raw.event) {
		return p, errors.New("payload: event is missing")
	}
	ev, ok := plainString(raw.event)
	if !ok || !fast {
		if err := json.Unmarshal(raw.event, &ev); err != nil {
			return p, errors.New("payload: event must be a string")
		}
	}
	if err := checkEvent(ev); err != nil {
		return p, err
	}
	p.Event = ev
	if !isNull(raw.data) {
		if !isObjectOrAbsent(raw.data) {
			return p, errors.New("payload: data must be a JSON object")
		}
		p.Data = raw.data
	}
	if !isNull(raw.actor) {
		if !isObjectOrAbsent(raw.actor) {
			return p, errors.New("payload: actor must be a JSON object")
		}
		p.Actor = raw.actor
	}
	if !isNull(raw.projectID) {
		pid, err := positiveInt(raw.projectID)
		if err != nil {
			return p, fmt.Errorf("payload: project_id %v", err)
		}
		p.ProjectID = &pid
	}
	return p, nil
}

// rawFields holds the raw values of the payload's keys.
type rawFields struct {
	installationID, event, data, projectID, actor json.RawMessage
}

// set keeps v as the field named key; other keys are ignored. Both parsers
// (split and the fast path) route keys through it.
func (r *rawFields) set(key string, v json.RawMessage) {
	switch key {
	case "installation_id":
		r.installationID = v
	case "event":
		r.event = v
	case "data":
		r.data = v
	case "project_id":
		r.projectID = v
	case "actor":
		r.actor = v
	}
}

// split reads the top-level object of b with encoding/json's decoder and
// returns its fields raw. Keys are compared exactly; a repeated key is an
// error, whatever its name, since parsers disagree on which one wins.
func split(b []byte) (rawFields, error) {
	var raw rawFields
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return raw, notJSON(err)
	}
	if tok != json.Delim('{') {
		if !json.Valid(b) {
			return raw, errors.New("payload: not valid JSON")
		}
		return raw, errors.New("payload: not a JSON object")
	}
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return raw, notJSON(err)
		}
		key, _ := tok.(string) // the decoder returns object keys as strings
		for _, k := range seen {
			if k == key {
				return raw, fmt.Errorf("payload: duplicate key %s", quote(key))
			}
		}
		seen = append(seen, key)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return raw, notJSON(err)
		}
		raw.set(key, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return raw, notJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return raw, errors.New("payload: not valid JSON: data after the object")
	}
	return raw, nil
}

func notJSON(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("payload: not valid JSON: unexpected end of input")
	}
	return fmt.Errorf("payload: not valid JSON: %v", err)
}

// positiveInt parses a JSON integer > 0.
func positiveInt(raw json.RawMessage) (int64, error) {
	if isNull(raw) {
		return 0, errors.New("is missing")
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("is out of the 64-bit range, got %s", clip(string(raw)))
	}
	if err != nil {
		return 0, fmt.Errorf("must be an integer, got %s", clip(string(raw)))
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

// quote returns s for an error message: at most maxQuote bytes of it, cut on
// a rune boundary, in Go quotes, with "…" when cut.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut(s)) + "…"
}

// clip returns raw JSON text for an error message as it is, cut to
// maxQuote bytes with "…".
func clip(s string) string {
	if len(s) <= maxQuote {
		return s
	}
	return cut(s) + "…"
}

// cut returns the first maxQuote bytes of s, less a rune it would split.
func cut(s string) string {
	n := maxQuote
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// depth returns the deepest nesting of objects and arrays in b, skipping
// strings, without allocating: the guard run before any parsing.
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
