package producer_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/hookworker/hookworker/producer"
)

// A producer in ten lines: connect to the worker's Redis, describe the
// change, enqueue it. A payload the worker would refuse is refused here,
// before it reaches Redis.
func Example() {
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:6379"})
	defer client.Close()
	info, err := producer.Enqueue(context.Background(), client, producer.ResourceChange{
		InstallationID: 7,
		Event:          "issue.created",
		Data:           json.RawMessage(`{"issue":{"id":"1","title":"Boom"}}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("enqueued", info.ID)
}

// NewTask validates a payload and builds the task without enqueuing it.
func ExampleNewTask() {
	project := int64(42)
	task, err := producer.NewTask(producer.ResourceChange{
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

	_, err = producer.NewTask(producer.ResourceChange{InstallationID: 7, Event: "issue"})
	fmt.Println(err)
	// Output:
	// sentry_apps:send_resource_change_webhook
	// {"installation_id":7,"event":"issue.created","data":{"issue":{"id":"1","title":"<b>Boom</b> & co"}},"project_id":42}
	// payload: event "issue" must be <resource>.<action> with exactly one dot
}
