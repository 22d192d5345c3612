package mail

import (
	"context"
	"strings"

	"go.uber.org/zap"
)

// Sender delivers one message. Implementations are safe for concurrent use,
// because task handlers run in parallel.
type Sender interface {
	// Send delivers m or returns why it could not; IsPermanent tells
	// whether retrying can help.
	Send(ctx context.Context, m Message) error
}

// Both senders are used through the Sender interface.
var (
	_ Sender = (*SMTPSender)(nil)
	_ Sender = (*ConsoleSender)(nil)
)

// NewSender returns the Sender the worker should use: an SMTPSender for a
// non-empty smtpURL (the SMTP_URL setting), else a ConsoleSender that writes
// messages to log, so that local runs need no mail server. from is the From
// address (the MAIL_FROM setting).
func NewSender(smtpURL, from string, log *zap.Logger) (Sender, error) {
	if strings.TrimSpace(smtpURL) == "" {
		return NewConsoleSender(log, from), nil
	}
	s, err := NewSMTPSender(smtpURL, from)
	if err != nil {
		return nil, err
	}
	return s, nil
}
