package tasks_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/tasks"
)

func int64p(n int64) *int64 { return &n }

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
