package producer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The producer package is what a Go producer links: asynq, go-redis, their
// own dependencies and the standard library, never the worker's database,
// mail, logging, metrics or queue-UI stacks.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 3 {
		t.Fatalf("go list -deps printed too little to be right: %q", deps)
	}
	forbidden := []string{"gorm.io/", "github.com/jackc/pgx", "sqlite", "github.com/wneessen/go-mail", "go.uber.org/zap",
		"github.com/prometheus/", "github.com/hibiken/asynqmon"}
	var asynq, goRedis bool
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.Contains(dep, f) {
				t.Errorf("producer depends on %s", dep)
			}
		}
		if rest, ok := strings.CutPrefix(dep, "github.com/hookworker/hookworker/"); ok && rest != "producer" && rest != "event" {
			t.Errorf("producer depends on hookworker's %s: only event (the list of events) is allowed", rest)
		}
		asynq = asynq || dep == "github.com/hibiken/asynq"
		goRedis = goRedis || dep == "github.com/redis/go-redis/v9"
	}
	if !asynq || !goRedis {
		t.Errorf("asynq (%v) and go-redis (%v) should be among the dependencies: %q", asynq, goRedis, deps)
	}
}
