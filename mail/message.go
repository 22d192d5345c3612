// Package mail builds and sends the e-mails hookworker writes to people,
// such as the notice to an organization's owners that one of its internal
// integrations was disabled after repeated webhook failures.
//
// A Message is the JSON payload of the email:send_email task. A Sender
// delivers it: SMTPSender talks to the server named by SMTP_URL with
// github.com/wneessen/go-mail, ConsoleSender writes it to the log for local
// runs without SMTP. IsPermanent tells a task handler whether a failed send
// should be retried or archived.
package mail

import (
	"fmt"
	"net/mail"
	"strings"
)

// Message is one e-mail to one recipient, the payload of the email:send_email
// task. It holds everything that varies per e-mail; the sender address and
// the transport are configured on the Sender.
type Message struct {
	// To is the single recipient, "addr@example.com" or "Name <addr@example.com>".
	To string `json:"to"`
	// Subject is the subject line; it must not be empty.
	Subject string `json:"subject"`
	// Text is the text/plain body.
	Text string `json:"text"`
	// HTML is the text/html body; when both bodies are set the e-mail is
	// multipart/alternative.
	HTML string `json:"html"`
	// Headers are extra header fields such as "X-Hookworker-Template".
	Headers map[string]string `json:"headers,omitempty"`
}

// Validate reports why m cannot be sent, so that a bad payload fails once and
// clearly instead of being retried: To must be exactly one valid address,
// Subject must not be empty, at least one of Text and HTML must be set, and
// header names and values must be safe (no CR/LF, which would let a value
// inject further header fields). Header names must be valid field names and
// must not be ones the Sender sets itself (From, To, Cc, Bcc, Subject and the
// MIME structure fields). Every error wraps ErrInvalidMessage.
func (m Message) Validate() error {
	if strings.TrimSpace(m.To) == "" {
		return fmt.Errorf("%w: recipient (to) is empty", ErrInvalidMessage)
	}
	if _, err := mail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("%w: recipient %q is not one valid address: %v", ErrInvalidMessage, m.To, err)
	}
	if strings.TrimSpace(m.Subject) == "" {
		return fmt.Errorf("%w: subject is empty", ErrInvalidMessage)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("%w: subject contains a line break", ErrInvalidMessage)
	}
	if m.Text == "" && m.HTML == "" {
		return fmt.Errorf("%w: both text and html bodies are empty", ErrInvalidMessage)
	}
	for name, value := range m.Headers {
		if err := validateHeader(name, value); err != nil {
			return err
		}
	}
	return nil
}

// validateHeader checks one entry of Message.Headers.
func validateHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("%w: empty header name", ErrInvalidMessage)
	}
	if strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("%w: header name %q contains CR or LF", ErrInvalidMessage, name)
	}
	for _, r := range name {
		// RFC 5322 field names: printable US-ASCII except colon.
		if r <= ' ' || r > '~' || r == ':' {
			return fmt.Errorf("%w: header name %q contains %q, which is not allowed in a field name",
				ErrInvalidMessage, name, r)
		}
	}
	if isReservedHeader(name) {
		return fmt.Errorf("%w: header %q is set by the sender and cannot be overridden", ErrInvalidMessage, name)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("%w: value of header %q contains CR or LF", ErrInvalidMessage, name)
	}
	return nil
}

// isReservedHeader reports whether name is a header field that the Sender
// derives from the message itself or from its configuration.
func isReservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "from", "to", "cc", "bcc", "subject", "sender",
		"mime-version", "content-type", "content-transfer-encoding":
		return true
	}
	return false
}
