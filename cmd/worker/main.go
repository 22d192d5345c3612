// Command worker runs hookworker: it delivers resource-change webhooks and
// sends e-mails from asynq queues, and serves the operator endpoints.
// `worker migrate` creates the schema, `worker seed` creates a working
// installation, `worker healthcheck` probes a running worker (for container
// health checks).
//
// Data flow of `worker`: config → logger → connections (Redis, database) →
// handlers and asynq server (package worker) → operator HTTP server (package
// ops) → wait for a signal → stop the operator server, then the worker.
package main

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/logging"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run executes one command with settings read through getenv; command
// output goes to stdout, logs to stderr.
func run(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr sync errors are not actionable

	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return serve(cfg, log)
	case "migrate":
		db, err := openDB(cfg, log)
		if err != nil {
			return err
		}
		log.Info("migrate.done", zap.String("database", databaseLabel(cfg)))
		return closeDB(db)
	case "seed":
		return seed(cfg, log, args, stdout)
	case "apps":
		return apps(cfg, log, args, stdout)
	case "healthcheck":
		return healthcheck(cfg, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage:
  worker                 run the worker (both queues, operator HTTP server on HTTP_ADDR)
  worker migrate         create or update the database schema, then exit
  worker seed --webhook-url URL [--name NAME] [--status internal|published|unpublished]
              [--events a.b,c.d] [--owner-email ADDR] [--project-ids 1,2]
                         create a working installation and print it as JSON
  worker apps list|show|requests|enable|clear-breaker ...
                         see and steer integrations (worker apps --help)
  worker healthcheck     exit 0 if the worker on HTTP_ADDR is ready (for container health checks)
Settings come from the environment; see README.md and docs/operations.md.
`
