// Package bench is the measuring instrument of performance.md: it runs
// hookworker's throughput, latency, dead-endpoint, resource and enqueue
// figures against a real Redis and PostgreSQL, next to the asynq no-op
// ceiling and the bare-POST floor measured on the same Redis, with the same
// N and concurrency, in the same round, and prints one table of medians.
//
// cmd/bench wires flags to Run; everything else lives here so the pieces
// (receiver, process control, counters) can be tested on their own.
package bench
