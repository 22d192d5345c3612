package mail

import (
	"context"

	"go.uber.org/zap"
)

// ConsoleSender is the Sender for local runs without SMTP_URL: instead of
// delivering a message it logs it (at info level, with the fields from, to,
// subject, text and headers), so that developers can read e-mails in the
// worker's output.
type ConsoleSender struct {
	log  *zap.Logger
	from string
}

// NewConsoleSender returns a ConsoleSender that logs to log (a no-op logger
// if nil) and reports from as the sender.
func NewConsoleSender(log *zap.Logger, from string) *ConsoleSender {
	if log == nil {
		log = zap.NewNop()
	}
	return &ConsoleSender{log: log, from: from}
}

// Send validates m like SMTPSender does and logs it. It fails only for an
// invalid message or a done ctx.
func (c *ConsoleSender) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.log.Info("e-mail not sent: SMTP_URL is not set, printing it instead",
		zap.String("from", c.from),
		zap.String("to", m.To),
		zap.String("subject", m.Subject),
		zap.String("text", m.Text),
		zap.Any("headers", m.Headers),
	)
	return nil
}

// Delivers is false: a ConsoleSender only logs, so callers report its
// messages as logged ("email.logged"), never as sent.
func (c *ConsoleSender) Delivers() bool { return false }

// Delivers reports whether s hands messages to a mail server; senders that
// only print them (ConsoleSender) say false through a Delivers method.
func Delivers(s Sender) bool {
	if d, ok := s.(interface{ Delivers() bool }); ok {
		return d.Delivers()
	}
	return true
}
