// Package producer is what a Go program needs to produce hookworker
// webhooks: the resource-change payload, the one validation the worker
// applies to it too (size, depth, event name, ids), the task constructor and
// Enqueue/EnqueueBatch helpers over an asynq client. It links asynq,
// go-redis and the standard library only, so a producer does not pull in
// the worker's database, mail, logging or metrics stacks.
package producer
