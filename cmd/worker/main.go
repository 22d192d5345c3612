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
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/logging"
)

func main() {
	// go-redis logs its own line for every failed dial of its pool; the
	// failure reaches us as an error, printed once, so its lines are noise.
	redis.SetLogger(quietRedis{})
	if err := runOn(os.Args[1:], os.Getenv, os.Stdout, logging.IsTerminal(os.Stderr)); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// quietRedis discards go-redis's internal log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// run executes one command with settings read through getenv; command
// output goes to stdout, logs to stderr.
func run(args []string, getenv func(string) string, stdout io.Writer) error {
	return runOn(args, getenv, stdout, false)
}

// runOn is run; onTerminal says stderr is a terminal: the logs are then
// human-readable unless LOG_FORMAT says otherwise, and `worker` prints the
// next steps of a first run there.
func runOn(args []string, getenv func(string) string, stdout io.Writer, onTerminal bool) error {
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch {
	case cmd == "help" || isHelp(cmd):
		fmt.Fprint(stdout, usage)
		return nil
	case cmd != "apps" && slices.ContainsFunc(args, isHelp):
		// Before the settings are read: help must work whatever they are,
		// and must never run the command. (`apps` answers its own --help,
		// per subcommand, without connecting anywhere.)
		if cmd == "seed" {
			fs, _ := seedFlags()
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		fmt.Fprint(stdout, usage)
		return nil
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	format := cfg.LogFormat
	if getenv("LOG_FORMAT") == "" && onTerminal {
		format = "console"
	}
	log, err := logging.New(format, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr sync errors are not actionable

	switch cmd {
	case "":
		var next io.Writer
		if onTerminal {
			next = os.Stderr
		}
		return serve(cfg, log, next)
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
  worker help            this text (so does --help after any command)
Settings come from the environment; see README.md and docs/operations.md.
`

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}
