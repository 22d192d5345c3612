// Package clamp bounds what inputs can add to an error message or a log
// line: a quoted field, a host, an id, a whole error text, a log message.
// Without it a 900 KB event name or a 1 MB URL would travel whole into task
// errors (kept in Redis) and log lines. The caps are listed in
// docs/security.md.
package clamp

import (
	"strconv"
	"unicode/utf8"

	"go.uber.org/zap/zapcore"
)

// The caps, in bytes of the input kept (the marker that says how long the
// input was comes on top).
const (
	// QuoteBytes caps a quoted payload field (an event name, a number).
	QuoteBytes = 40
	// HostBytes caps a host name in a refusal (DNS names have 253 at most).
	HostBytes = 255
	// URLBytes caps a (redacted) URL in a log line, a task error or an e-mail.
	URLBytes = 512
	// IDBytes caps an id chosen by a producer (a task id) in a log line.
	IDBytes = 128
	// ErrorBytes caps the text of a task error and of an error in a log
	// line (a receiver's TLS error can list thousands of names).
	ErrorBytes = 1024
	// MessageBytes caps a log message (asynq puts task ids in its messages).
	MessageBytes = 1024
)

// String returns s if it has at most max bytes, else its longest prefix of
// at most max bytes that ends at a character boundary, followed by
// "…(N bytes)" with s's length.
func String(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return prefix(s, max) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// Quote returns s quoted as %q does, at most QuoteBytes of it, followed by
// "…(N bytes)" when it was cut.
func Quote(s string) string {
	if len(s) <= QuoteBytes {
		return strconv.Quote(s)
	}
	return strconv.Quote(prefix(s, QuoteBytes)) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// prefix cuts s to at most max bytes, never inside a UTF-8 sequence.
func prefix(s string, max int) string {
	i := max
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Error returns err with its text cut to ErrorBytes; errors.Is and
// errors.As still see err and everything it wraps (asynq.SkipRetry, typed
// retry errors), since the cap only unwraps to it.
func Error(err error) error {
	if err == nil || len(err.Error()) <= ErrorBytes {
		return err
	}
	return &capped{err: err}
}

type capped struct{ err error }

func (c *capped) Error() string { return String(c.err.Error(), ErrorBytes) }
func (c *capped) Unwrap() error { return c.err }

// Core wraps a zap core so that every log message is cut to MessageBytes
// and every error field to ErrorBytes, whoever logs (asynq's own lines
// included). Other fields are capped where they are made (URLs by
// config.Redact, ids with IDBytes).
func Core(c zapcore.Core) zapcore.Core { return core{c} }

type core struct{ zapcore.Core }

func (c core) With(fields []zapcore.Field) zapcore.Core { return core{c.Core.With(capFields(fields))} }

func (c core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = String(e.Message, MessageBytes)
	return c.Core.Write(e, capFields(fields))
}

// capFields caps error fields, copying the slice only when one changes.
func capFields(fields []zapcore.Field) []zapcore.Field {
	out := fields
	for i, f := range fields {
		if f.Type != zapcore.ErrorType {
			continue
		}
		err, ok := f.Interface.(error)
		if !ok || err == nil || len(err.Error()) <= ErrorBytes {
			continue
		}
		if &out[0] == &fields[0] {
			out = append([]zapcore.Field(nil), fields...)
		}
		out[i].Interface = Error(err)
	}
	return out
}
