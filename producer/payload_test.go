package producer_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/producer"
)

func int64p(n int64) *int64 { return &n }

func TestDecodeAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    producer.ResourceChange
	}{
		{
			name:    "minimal",
			payload: `{"installation_id":7,"event":"issue.created"}`,
			want:    producer.ResourceChange{InstallationID: 7, Event: "issue.created"},
		},
		{
			name:    "every field",
			payload: `{"installation_id":9223372036854775807,"event":"comment.deleted","data":{"comment":{"id":"1"}},"project_id":3,"actor":{"type":"user","id":1,"name":"Ann"}}`,
			want: producer.ResourceChange{InstallationID: 9223372036854775807, Event: "comment.deleted",
				Data: json.RawMessage(`{"comment":{"id":"1"}}`), ProjectID: int64p(3),
				Actor: json.RawMessage(`{"type":"user","id":1,"name":"Ann"}`)},
		},
		{
			name:    "nulls are absent, unknown fields ignored",
			payload: ` {"installation_id":1,"event":"error.created","data":null,"actor":null,"project_id":null,"extra":[1,2],"retries":5} `,
			want:    producer.ResourceChange{InstallationID: 1, Event: "error.created"},
		},
		{
			name:    "extended event",
			payload: `{"installation_id":1,"event":"metric_alert.critical","data":{}}`,
			want:    producer.ResourceChange{InstallationID: 1, Event: "metric_alert.critical", Data: json.RawMessage(`{}`)},
		},
		{
			name:    "HTML characters untouched",
			payload: `{"installation_id":1,"event":"issue.created","data":{"u":"a/b<c>&d"}}`,
			want:    producer.ResourceChange{InstallationID: 1, Event: "issue.created", Data: json.RawMessage(`{"u":"a/b<c>&d"}`)},
		},
	}
	for _, tt := range tests {
		got, err := producer.Decode([]byte(tt.payload), 1<<20)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got, tt.name)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	deep := `{"installation_id":1,"event":"issue.created","data":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}`
	tests := []struct {
		name, payload, want string
	}{
		{"bad JSON", `{"installation_id":1,`, "not valid JSON"},
		{"empty", ``, "not valid JSON"},
		{"array", `[1,2]`, "not a JSON object"},
		{"string", `"hello"`, "not a JSON object"},
		{"number", `42`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"no installation_id", `{"event":"issue.created"}`, "installation_id is missing"},
		{"null installation_id", `{"installation_id":null,"event":"issue.created"}`, "installation_id is missing"},
		{"installation_id 0", `{"installation_id":0,"event":"issue.created"}`, "installation_id must be positive, got 0"},
		{"installation_id -1", `{"installation_id":-1,"event":"issue.created"}`, "installation_id must be positive, got -1"},
		{"installation_id 1.5", `{"installation_id":1.5,"event":"issue.created"}`, "installation_id must be an integer, got 1.5"},
		{"installation_id 1.0", `{"installation_id":1.0,"event":"issue.created"}`, "installation_id must be an integer"},
		{"installation_id string", `{"installation_id":"7","event":"issue.created"}`, `installation_id must be an integer, got "7"`},
		{"installation_id too big", `{"installation_id":9223372036854775808,"event":"issue.created"}`, "installation_id is out of the 64-bit range"},
		{"installation_id object", `{"installation_id":{},"event":"issue.created"}`, "installation_id must be an integer"},
		{"no event", `{"installation_id":1}`, "event is missing"},
		{"event not a string", `{"installation_id":1,"event":5}`, "event must be a string"},
		{"event without a dot", `{"installation_id":1,"event":"issue"}`, `event "issue" must be <resource>.<action> with exactly one dot`},
		{"event with two dots", `{"installation_id":1,"event":"issue.created.now"}`, "exactly one dot"},
		{"event with an empty part", `{"installation_id":1,"event":"issue."}`, "both parts non-empty"},
		{"unknown event", `{"installation_id":1,"event":"issue.exploded"}`, `unknown event "issue.exploded"`},
		{"data array", `{"installation_id":1,"event":"issue.created","data":[1]}`, "data must be a JSON object"},
		{"data string", `{"installation_id":1,"event":"issue.created","data":"x"}`, "data must be a JSON object"},
		{"data number", `{"installation_id":1,"event":"issue.created","data":3}`, "data must be a JSON object"},
		{"actor array", `{"installation_id":1,"event":"issue.created","actor":[]}`, "actor must be a JSON object"},
		{"project_id 0", `{"installation_id":1,"event":"issue.created","project_id":0}`, "project_id must be positive"},
		{"project_id string", `{"installation_id":1,"event":"issue.created","project_id":"3"}`, "project_id must be an integer"},
		{"too deep", deep, "nested deeper than 64 levels"},
		{"key case folded", `{"INSTALLATION_ID":1,"event":"issue.created"}`, "installation_id is missing"},
		{"key with a Kelvin-style fold", `{"inſtallation_id":1,"event":"issue.created"}`, "installation_id is missing"},
		{"event key case folded", `{"installation_id":1,"Event":"issue.created"}`, "event is missing"},
		{"duplicate installation_id", `{"installation_id":1,"event":"issue.created","installation_id":2}`, `duplicate key "installation_id"`},
		{"duplicate via escape", `{"event":"issue.created","installation_id":1,"ev\u0065nt":"issue.resolved"}`, `duplicate key "event"`},
		{"duplicate unknown key", `{"installation_id":1,"event":"issue.created","x":1,"x":2}`, `duplicate key "x"`},
		{"data after the object", `{"installation_id":1,"event":"issue.created"} {}`, "data after the object"},
		{"missing colon", `{"installation_id" 1}`, "not valid JSON"},
		{"long event quoted short", `{"installation_id":1,"event":"` + strings.Repeat("x", 5000) + `"}`, `unknown event "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"… (5000 bytes)`},
		{"long id quoted short", `{"installation_id":` + strings.Repeat("9", 5000) + `,"event":"issue.created"}`, `out of the 64-bit range, got 9999999999999999999999999999999999999999…`},
		{"empty event", `{"installation_id":1,"event":""}`, "event is required"},
	}
	for _, tt := range tests {
		_, err := producer.Decode([]byte(tt.payload), 1<<20)
		require.Error(t, err, tt.name)
		require.True(t, strings.HasPrefix(err.Error(), "payload: "), "%s: %v", tt.name, err)
		require.Contains(t, err.Error(), tt.want, tt.name)
		require.Less(t, len(err.Error()), 200, "%s: the message quotes its input whole", tt.name)
	}
}

// Escaped keys mean what they spell, as in every JSON parser.
func TestDecodeEscapedKey(t *testing.T) {
	t.Parallel()
	p, err := producer.Decode([]byte(`{"install\u0061tion_id":5,"event":"issue.created"}`), 0)
	require.NoError(t, err)
	require.Equal(t, int64(5), p.InstallationID)
}

func TestEncodeLimits(t *testing.T) {
	t.Parallel()
	big := producer.ResourceChange{InstallationID: 1, Event: "issue.created",
		Data: json.RawMessage(`{"x":"` + strings.Repeat("a", producer.DefaultMaxPayloadBytes) + `"}`)}
	_, err := producer.Encode(big, 0)
	require.ErrorContains(t, err, "is over the limit of 1048576 (MAX_PAYLOAD_BYTES)")
	b, err := producer.Encode(big, 2<<20)
	require.NoError(t, err, "a larger limit")
	_, err = producer.Decode(b, 2<<20)
	require.NoError(t, err)

	small := producer.ResourceChange{InstallationID: 1, Event: "issue.created", Data: json.RawMessage(`{"x":"` + strings.Repeat("a", 2000) + `"}`)}
	b, err = producer.Encode(small, 0)
	require.NoError(t, err)
	_, err = producer.Encode(small, len(b)-1)
	require.EqualError(t, err, fmt.Sprintf("payload: %d bytes is over the limit of %d (MAX_PAYLOAD_BYTES)", len(b), len(b)-1))
	_, err = producer.Encode(small, len(b))
	require.NoError(t, err, "exactly at the limit")

	deep := producer.ResourceChange{InstallationID: 1, Event: "issue.created",
		Data: json.RawMessage(strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat(`}`, 64))}
	_, err = producer.Encode(deep, 0)
	require.EqualError(t, err, "payload: JSON nested deeper than 64 levels")
	deep.Data = json.RawMessage(strings.Repeat(`{"a":`, 63) + `1` + strings.Repeat(`}`, 63))
	b, err = producer.Encode(deep, 0)
	require.NoError(t, err, "63 levels of data, 64 with the payload")
	_, err = producer.Decode(b, 0)
	require.NoError(t, err, "the worker accepts what the producer accepted")

	for name, p := range map[string]producer.ResourceChange{
		"no installation": {Event: "issue.created"},
		"no event":        {InstallationID: 1},
		"project 0 set":   {InstallationID: 1, Event: "issue.created", ProjectID: int64p(0)},
		"bad data JSON":   {InstallationID: 1, Event: "issue.created", Data: json.RawMessage(`{"a":}`)},
		"long event":      {InstallationID: 1, Event: strings.Repeat("é", 1000)},
	} {
		_, err := producer.Encode(p, 0)
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "payload: "), "%s: %v", name, err)
		require.Less(t, len(err.Error()), 200, name)
		require.Error(t, producer.Validate(p, 0), name)
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	t.Parallel()
	p := []byte(`{"installation_id":1,"event":"issue.created","data":{"x":"` + strings.Repeat("a", 100) + `"}}`)
	_, err := producer.Decode(p, len(p))
	require.NoError(t, err, "exactly at the limit")
	_, err = producer.Decode(p, 0)
	require.NoError(t, err, "0 means the default limit")
	_, err = producer.Decode(p, len(p)-1)
	require.EqualError(t, err, fmt.Sprintf("payload: %d bytes is over the limit of %d (MAX_PAYLOAD_BYTES)", len(p), len(p)-1))
}
