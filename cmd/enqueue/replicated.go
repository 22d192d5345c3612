package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/redisconn"
)

// replicaWait bounds how long enqueue waits, on Sentinel, for a replica to
// acknowledge what it wrote.
const replicaWait = 5 * time.Second

// awaitReplica, when t is a Sentinel-watched master, waits until a replica
// has what enqueue wrote (redisconn.WaitReplicated): Redis replication is
// asynchronous, so until then a failover could lose the tasks though the
// master acknowledged them. It warns on w when no replica acknowledged
// within replicaWait, and never fails: the tasks are on the master.
func awaitReplica(t redisTarget, rdb redis.UniversalClient, w io.Writer) {
	if t.opt.Mode() != redisconn.Sentinel {
		return
	}
	n, err := redisconn.WaitReplicated(context.Background(), rdb, 1, replicaWait)
	switch {
	case err != nil:
		fmt.Fprintf(w, "enqueue: warning: could not check that a replica has the tasks (%v); a failover now could lose them\n", err)
	case n == 0:
		fmt.Fprintf(w, "enqueue: warning: no replica acknowledged the tasks within %s; a failover now could lose them\n", replicaWait)
	}
}
