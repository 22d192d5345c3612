package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/internal/clamp"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/metrics"
)

// NewSendEmailTask returns a send_email task for m, on the email queue.
func NewSendEmailTask(m mail.Message, opts ...asynq.Option) (*asynq.Task, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("e-mail payload: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode e-mail payload: %w", err)
	}
	return asynq.NewTask(TypeSendEmail, bytes.TrimSuffix(buf.Bytes(), []byte("\n")),
		append([]asynq.Option{asynq.Queue(QueueEmail)}, opts...)...), nil
}

// Mailer is the handler of send_email: it sends one message, retries
// transient failures (connection errors, SMTP 4xx) and archives permanent
// ones (SMTP 5xx, invalid message) with the server's answer.
type Mailer struct {
	sender     mail.Sender
	metrics    *metrics.Metrics
	log        *zap.Logger
	maxRetries int
}

// NewMailer returns the send_email handler. maxRetries is MAIL_MAX_RETRIES.
func NewMailer(sender mail.Sender, m *metrics.Metrics, log *zap.Logger, maxRetries int) *Mailer {
	return &Mailer{sender: sender, metrics: m, log: log, maxRetries: maxRetries}
}

// ProcessTask sends the message in t's payload. The error's text is cut to
// clamp.ErrorBytes (an SMTP server's answer can be long).
func (h *Mailer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	return clamp.Error(h.process(ctx, t))
}

func (h *Mailer) process(ctx context.Context, t *asynq.Task) error {
	var m mail.Message
	if err := json.Unmarshal(t.Payload(), &m); err != nil {
		h.metrics.Rejected.WithLabelValues(t.Type()).Inc()
		return Permanent(fmt.Errorf("e-mail payload: not valid JSON: %v", err))
	}
	if err := m.Validate(); err != nil {
		h.metrics.Rejected.WithLabelValues(t.Type()).Inc()
		return Permanent(fmt.Errorf("e-mail payload: %w", err))
	}
	err := h.sender.Send(ctx, m)
	if err == nil {
		h.metrics.Emails.WithLabelValues("sent").Inc()
		word := "email.sent"
		if !mail.Delivers(h.sender) {
			word = "email.logged" // console mode: printed, not sent
		}
		h.log.Info(word, zap.String("subject", m.Subject))
		return nil
	}
	h.metrics.Emails.WithLabelValues("failed").Inc()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if mail.IsPermanent(err) {
		h.log.Warn("email.rejected", zap.String("subject", m.Subject), zap.Error(err))
		return Permanent(fmt.Errorf("send e-mail: %w", err))
	}
	retried, _ := asynq.GetRetryCount(ctx)
	if retried >= h.maxRetries {
		h.log.Error("email.retries_exhausted", zap.Int("attempts", retried+1), zap.Error(err))
		return Permanent(fmt.Errorf("giving up after %d attempts: send e-mail: %w", retried+1, err))
	}
	h.log.Warn("email.retry", zap.Int("attempt", retried+1), zap.Error(err))
	return fmt.Errorf("send e-mail: %w", err)
}
