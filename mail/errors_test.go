package mail

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("dial tcp: connection reset"), false},
		{"invalid message", fmt.Errorf("wrapped: %w", ErrInvalidMessage), true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"5xx reply", fmt.Errorf("dial failed: %w", &textproto.Error{Code: 554, Msg: "no service"}), true},
		{"4xx reply", fmt.Errorf("dial failed: %w", &textproto.Error{Code: 421, Msg: "too busy"}), false},
		{"joined 5xx", errors.Join(errors.New("close failed"), &textproto.Error{Code: 550, Msg: "no"}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsPermanent(tc.err))
		})
	}
}
