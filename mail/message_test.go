package mail

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validMessage() Message {
	return Message{
		To:      "owner@example.com",
		Subject: "Hello",
		Text:    "text",
		HTML:    "<p>html</p>",
		Headers: map[string]string{"X-Test": "1"},
	}
}

func TestMessageValidate(t *testing.T) {
	require.NoError(t, validMessage().Validate())

	ok := []func(m *Message){
		func(m *Message) { m.To = "Jane Owner <owner@example.com>" },
		func(m *Message) { m.Text = "" },
		func(m *Message) { m.HTML = "" },
		func(m *Message) { m.Headers = nil },
		func(m *Message) { m.Headers = map[string]string{"Reply-To": "support@example.com"} },
	}
	for i, mutate := range ok {
		m := validMessage()
		mutate(&m)
		assert.NoError(t, m.Validate(), "case %d", i)
	}

	tests := []struct {
		name    string
		mutate  func(m *Message)
		wantErr string
	}{
		{"empty to", func(m *Message) { m.To = " " }, "recipient (to) is empty"},
		{"bad to", func(m *Message) { m.To = "not an address" }, `recipient "not an address" is not one valid address`},
		{"two recipients", func(m *Message) { m.To = "a@example.com, b@example.com" }, "is not one valid address"},
		{"empty subject", func(m *Message) { m.Subject = "" }, "subject is empty"},
		{"subject with newline", func(m *Message) { m.Subject = "a\r\nBcc: x@example.com" }, "subject contains a line break"},
		{"no body", func(m *Message) { m.Text, m.HTML = "", "" }, "both text and html bodies are empty"},
		{"header value CRLF", func(m *Message) { m.Headers = map[string]string{"X-A": "1\r\nBcc: x@example.com"} }, `value of header "X-A" contains CR or LF`},
		{"header value LF", func(m *Message) { m.Headers = map[string]string{"X-A": "1\nB: 2"} }, "contains CR or LF"},
		{"header name CRLF", func(m *Message) { m.Headers = map[string]string{"X-A\r\nBcc": "x"} }, "header name \"X-A\\r\\nBcc\" contains CR or LF"},
		{"header name colon", func(m *Message) { m.Headers = map[string]string{"X-A:": "x"} }, "not allowed in a field name"},
		{"empty header name", func(m *Message) { m.Headers = map[string]string{"": "x"} }, "empty header name"},
		{"reserved header", func(m *Message) { m.Headers = map[string]string{"bcc": "x@example.com"} }, `header "bcc" is set by the sender`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validMessage()
			tc.mutate(&m)
			err := m.Validate()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidMessage)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.True(t, IsPermanent(err))
		})
	}
}

func TestMessageJSON(t *testing.T) {
	b, err := json.Marshal(Message{To: "a@example.com", Subject: "s", Text: "t", HTML: "h"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"to":"a@example.com","subject":"s","text":"t","html":"h"}`, string(b))

	var m Message
	require.NoError(t, json.Unmarshal([]byte(`{"to":"a@example.com","subject":"s","text":"t","html":"h","headers":{"X-A":"1"}}`), &m))
	assert.Equal(t, map[string]string{"X-A": "1"}, m.Headers)
}
