package tasks_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/tasks"
)

func int64p(n int64) *int64 { return &n }

func TestDecodeResourceChangeAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    tasks.ResourceChange
	}{
		{
			name:    "minimal",
			payload: `{"installation_id":7,"event":"issue.created"}`,
			want:    tasks.ResourceChange{InstallationID: 7, Event: "issue.created"},
		},
		{
			name:    "every field",
			payload: `{"installation_id":9223372036854775807,"event":"comment.deleted","data":{"comment":{"id":"1"}},"project_id":3,"actor":{"type":"user","id":1,"name":"Ann"}}`,
			want: tasks.ResourceChange{InstallationID: 9223372036854775807, Event: "comment.deleted",
				Data: json.RawMessage(`{"comment":{"id":"1"}}`), ProjectID: int64p(3),
				Actor: json.RawMessage(`{"type":"user","id":1,"name":"Ann"}`)},
		},
		{
			name:    "nulls are absent, unknown fields ignored",
			payload: ` {"installation_id":1,"event":"error.created","data":null,"actor":null,"project_id":null,"extra":[1,2],"retries":5} `,
			want:    tasks.ResourceChange{InstallationID: 1, Event: "error.created"},
		},
		{
			name:    "extended event",
			payload: `{"installation_id":1,"event":"metric_alert.critical","data":{}}`,
			want:    tasks.ResourceChange{InstallationID: 1, Event: "metric_alert.critical", Data: json.RawMessage(`{}`)},
		},
		{
			name:    "HTML characters untouched",
			payload: `{"installation_id":1,"event":"issue.created","data":{"u":"a/b<c>&d"}}`,
			want:    tasks.ResourceChange{InstallationID: 1, Event: "issue.created", Data: json.RawMessage(`{"u":"a/b<c>&d"}`)},
		},
	}
	for _, tt := range tests {
		got, err := tasks.DecodeResourceChange([]byte(tt.payload), 1<<20)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got, tt.name)
	}
}

func TestDecodeResourceChangeRejects(t *testing.T) {
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
	}
	for _, tt := range tests {
		_, err := tasks.DecodeResourceChange([]byte(tt.payload), 1<<20)
		require.Error(t, err, tt.name)
		require.True(t, strings.HasPrefix(err.Error(), "payload: "), "%s: %v", tt.name, err)
		require.Contains(t, err.Error(), tt.want, tt.name)
	}
}

func TestDecodeResourceChangeSizeLimit(t *testing.T) {
	t.Parallel()
	p := []byte(`{"installation_id":1,"event":"issue.created","data":{"x":"` + strings.Repeat("a", 100) + `"}}`)
	_, err := tasks.DecodeResourceChange(p, len(p))
	require.NoError(t, err, "exactly at the limit")
	_, err = tasks.DecodeResourceChange(p, 0)
	require.NoError(t, err, "0 means no limit")
	_, err = tasks.DecodeResourceChange(p, len(p)-1)
	require.EqualError(t, err, fmt.Sprintf("payload: %d bytes is over the limit of %d (MAX_PAYLOAD_BYTES)", len(p), len(p)-1))
}

func TestEncodeResourceChange(t *testing.T) {
	t.Parallel()
	b, err := tasks.EncodeResourceChange(tasks.ResourceChange{InstallationID: 3, Event: "issue.created",
		Data: json.RawMessage(`{"u":"a/b<c>&d"}`), ProjectID: int64p(9), Actor: json.RawMessage(`{"id":"x"}`)})
	require.NoError(t, err)
	require.Equal(t, `{"installation_id":3,"event":"issue.created","data":{"u":"a/b<c>&d"},"project_id":9,"actor":{"id":"x"}}`, string(b))

	b, err = tasks.EncodeResourceChange(tasks.ResourceChange{InstallationID: 3, Event: "issue.created"})
	require.NoError(t, err)
	require.Equal(t, `{"installation_id":3,"event":"issue.created"}`, string(b))

	for name, p := range map[string]tasks.ResourceChange{
		"no installation": {Event: "issue.created"},
		"negative id":     {InstallationID: -2, Event: "issue.created"},
		"bad event":       {InstallationID: 1, Event: "issue"},
		"unknown event":   {InstallationID: 1, Event: "foo.bar"},
		"data array":      {InstallationID: 1, Event: "issue.created", Data: json.RawMessage(`[]`)},
		"actor string":    {InstallationID: 1, Event: "issue.created", Actor: json.RawMessage(`"me"`)},
	} {
		_, err := tasks.EncodeResourceChange(p)
		require.Error(t, err, name)
		_, err = tasks.NewResourceChangeTask(p)
		require.Error(t, err, name)
	}
}

func TestNewResourceChangeTask(t *testing.T) {
	t.Parallel()
	task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: 5, Event: "error.created",
		Data: json.RawMessage(`{"error":{}}`)})
	require.NoError(t, err)
	require.Equal(t, "sentry_apps:send_resource_change_webhook", task.Type())
	got, err := tasks.DecodeResourceChange(task.Payload(), 0)
	require.NoError(t, err)
	require.Equal(t, tasks.ResourceChange{InstallationID: 5, Event: "error.created", Data: json.RawMessage(`{"error":{}}`)}, got)
}
