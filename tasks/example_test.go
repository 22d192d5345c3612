package tasks_test

import (
	"encoding/json"
	"fmt"

	"github.com/hookworker/hookworker/tasks"
)

// A producer builds a resource-change task and enqueues it with an asynq
// client (client.Enqueue(task)); the task goes to the app_platform queue.
func ExampleNewResourceChangeTask() {
	project := int64(42)
	task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{
		InstallationID: 7,
		Event:          "issue.created",
		Data:           json.RawMessage(`{"issue":{"id":"1","title":"<b>Boom</b> & co"}}`),
		ProjectID:      &project,
	})
	if err != nil {
		fmt.Println("invalid payload:", err)
		return
	}
	fmt.Println(task.Type())
	fmt.Println(string(task.Payload()))

	_, err = tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: 7, Event: "issue"})
	fmt.Println(err)
	// Output:
	// sentry_apps:send_resource_change_webhook
	// {"installation_id":7,"event":"issue.created","data":{"issue":{"id":"1","title":"<b>Boom</b> & co"}},"project_id":42}
	// payload: event "issue" must be <resource>.<action> with exactly one dot
}
