package mail

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestConsoleSender(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	sender := NewConsoleSender(zap.New(core), "noreply@hookworker.test")

	m, err := BuildDisabledIntegration("owner@example.com", testIntegration())
	require.NoError(t, err)
	require.NoError(t, sender.Send(context.Background(), m))

	entries := logs.All()
	require.Len(t, entries, 1)
	assert.Equal(t, zapcore.InfoLevel, entries[0].Level)
	fields := entries[0].ContextMap()
	assert.Equal(t, "owner@example.com", fields["to"])
	assert.Equal(t, "Action required: Fix your My-App2Go integration", fields["subject"])
	assert.Equal(t, m.Text, fields["text"])
	assert.Equal(t, "noreply@hookworker.test", fields["from"])
}

func TestConsoleSenderErrors(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	sender := NewConsoleSender(zap.New(core), "noreply@hookworker.test")

	err := sender.Send(context.Background(), Message{To: "x"})
	assert.ErrorIs(t, err, ErrInvalidMessage)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = sender.Send(ctx, validMessage())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, logs.Len())

	// A nil logger is allowed.
	assert.NoError(t, NewConsoleSender(nil, "").Send(context.Background(), validMessage()))
}

func TestNewSender(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := NewSender("", "noreply@hookworker.test", zap.New(core))
	require.NoError(t, err)
	require.IsType(t, &ConsoleSender{}, s)
	require.NoError(t, s.Send(context.Background(), validMessage()))
	assert.Equal(t, 1, logs.Len())

	s, err = NewSender("smtp://localhost:1025", "noreply@hookworker.test", zap.New(core))
	require.NoError(t, err)
	assert.IsType(t, &SMTPSender{}, s)

	s, err = NewSender("gopher://localhost", "noreply@hookworker.test", zap.New(core))
	require.Error(t, err)
	assert.Nil(t, s)
}
