package clamp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "abc", String("abc", 3))
	require.Equal(t, "ab…(3 bytes)", String("abc", 2))
	// Never inside a UTF-8 sequence.
	got := String(strings.Repeat("é", 100), 41)
	require.True(t, utf8.ValidString(got))
	require.Equal(t, strings.Repeat("é", 20)+"…(200 bytes)", got)
}

func TestQuote(t *testing.T) {
	t.Parallel()
	require.Equal(t, `"issue.created"`, Quote("issue.created"))
	require.Equal(t, `"a\nb"`, Quote("a\nb"))
	q := Quote(strings.Repeat("x", 900<<10))
	require.Equal(t, `"`+strings.Repeat("x", QuoteBytes)+`"…(921600 bytes)`, q)
}

func TestError(t *testing.T) {
	t.Parallel()
	require.NoError(t, Error(nil))
	short := errors.New("short")
	require.Same(t, short, Error(short))
	sentinel := errors.New("sentinel")
	long := fmt.Errorf("%s: %w", strings.Repeat("z", 1<<20), sentinel)
	got := Error(long)
	require.LessOrEqual(t, len(got.Error()), ErrorBytes+20)
	require.ErrorIs(t, got, sentinel, "the chain is kept")
}

func TestCore(t *testing.T) {
	t.Parallel()
	obs, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(Core(obs)).With(zap.Error(errors.New(strings.Repeat("w", 5000))))
	log.Info(strings.Repeat("m", 1<<20), zap.Error(errors.New(strings.Repeat("e", 1<<20))), zap.String("kept", "v"))
	log.Debug("short")
	all := logs.All()
	require.Len(t, all, 2)
	require.LessOrEqual(t, len(all[0].Message), MessageBytes+20)
	ctx := all[0].ContextMap()
	require.Equal(t, "v", ctx["kept"])
	require.LessOrEqual(t, len(ctx["error"].(string)), ErrorBytes+20)
	require.Equal(t, "short", all[1].Message)
}
