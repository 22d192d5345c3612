// Command enqueue puts resource-change tasks on hookworker's queue:
// `enqueue resource-change` for one, `enqueue bulk` for newline-delimited
// JSON payloads on stdin.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/producer"
	"github.com/hookworker/hookworker/redisconn"
	"github.com/hookworker/hookworker/store"
)

func main() {
	wd, _ := os.Getwd()
	if err := run(os.Args[1:], env{getenv: os.Getenv, dir: wd, retryWindow: defaultRetryWindow}, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "enqueue:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  enqueue resource-change --installation-id ID --event EVENT [--data JSON|@FILE|-] [--actor JSON|@FILE]
                          [--project-id N] [--no-check]
                          enqueue one task and print its id
  enqueue bulk [--workers N] read one JSON payload per line from stdin and enqueue them all
Redis comes from REDIS_URL. Without it, enqueue uses the worker's embedded Redis: at
EMBEDDED_REDIS_ADDR if set, else at the address a worker started in this directory wrote to
hookworker-redis.addr, else at 127.0.0.1:6379. REDIS_URL may name one node (redis://),
a Sentinel setup (redis-sentinel://h1:26379,h2:26379/0?master=NAME) or a cluster
(redis-cluster://h1:7000,h2:7000). While Redis does not answer (an outage, a failover)
enqueue retries for 30 s, then exits non-zero saying so. Every command accepts --help.
`

// env is what a command reads from its surroundings besides the settings.
type env struct {
	getenv func(string) string
	// dir is the working directory, where a worker on the embedded Redis
	// writes its address (addrFile).
	dir string
	// retryWindow is how long a command retries while Redis does not
	// answer; zero means one attempt.
	retryWindow time.Duration
}

// Kept equal to embedded.AddrFile and embedded.MarkerKey (a test checks),
// so that enqueue does not link the embedded Redis server.
const (
	addrFile  = "hookworker-redis.addr"
	markerKey = "hookworker:embedded"
)

func run(args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("a command is required\n" + usage)
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "resource-change", "bulk":
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	if args[0] == "bulk" {
		return bulk(cfg, e, args[1:], stdin, stdout, stderr)
	}
	return resourceChange(cfg, e, args[1:], stdin, stdout, stderr)
}

// redisTarget is the Redis a command writes to.
type redisTarget struct {
	opt redisconn.Options
	// desc says where it is and why, without credentials:
	// "redis-sentinel://h1:26379,h2:26379/0?master=m (REDIS_URL)".
	desc string
	// embedded is true when REDIS_URL is unset: the Redis must then be a
	// worker's embedded one (it carries markerKey).
	embedded bool
}

// maxRetry is the tasks' asynq MaxRetry: WEBHOOK_MAX_RETRIES, read from the
// same environment as the worker's, so that a deployment that changes it
// gets tasks the worker retries that many times and a queue UI that shows
// that limit (asynq archives a task at its MaxRetry; the worker stops at
// the lower of the two).
func maxRetry(cfg config.Config) asynq.Option { return asynq.MaxRetry(cfg.WebhookMaxRetries) }

// resolveRedis picks REDIS_URL, else the worker's embedded Redis: at
// EMBEDDED_REDIS_ADDR when it is set, else at the address a worker started
// in the same directory advertised in addrFile, else at the default address.
func resolveRedis(cfg config.Config, e env) (redisTarget, error) {
	if cfg.RedisURL != "" {
		opt, err := redisconn.Parse(cfg.RedisURL)
		if err != nil {
			return redisTarget{}, err
		}
		return redisTarget{opt: opt, desc: opt.String() + " (REDIS_URL)"}, nil
	}
	addr, from := cfg.EmbeddedRedisAddr, "the default EMBEDDED_REDIS_ADDR"
	if e.getenv("EMBEDDED_REDIS_ADDR") != "" {
		from = "EMBEDDED_REDIS_ADDR"
	} else if b, err := os.ReadFile(filepath.Join(e.dir, addrFile)); err == nil {
		if a := strings.TrimSpace(string(b)); a != "" && !strings.ContainsAny(a, "/@ ") {
			addr, from = a, addrFile+", written by the worker"
		}
	}
	opt, err := redisconn.Parse("redis://" + addr + "/0")
	if err != nil {
		return redisTarget{}, fmt.Errorf("the embedded Redis's address %q (from %s): %w", addr, from, err)
	}
	return redisTarget{opt: opt, desc: fmt.Sprintf("%s db 0 (the worker's embedded Redis, from %s)", addr, from), embedded: true}, nil
}

// connect returns a client for t after checking that it answers (retrying
// for up to window through an outage or failover of REDIS_URL's Redis)
// and, for the embedded Redis, that it is a hookworker worker's: writing
// into another Redis that happens to listen there would lose the task
// without a word.
func connect(t redisTarget, poolSize int, window time.Duration) (redis.UniversalClient, error) {
	rdb := redisconn.NewClient(t.opt, func(u *redis.UniversalOptions) { u.PoolSize = poolSize })
	if t.embedded {
		window = 0 // no worker there: say so at once
	}
	n, err := retry(context.Background(), window, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	if err != nil {
		rdb.Close()
		hint := ""
		if t.embedded {
			hint = "; REDIS_URL is unset: is `worker` running with its embedded Redis?"
		} else if n > 1 {
			hint = fmt.Sprintf(" after %d attempts over %s", n, window.Round(time.Second))
		}
		return nil, fmt.Errorf("redis at %s does not answer%s: %v", t.desc, hint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if t.embedded {
		n, err := rdb.Exists(ctx, markerKey).Result()
		if err != nil || n == 0 {
			rdb.Close()
			return nil, fmt.Errorf("redis at %s answers but is not a hookworker worker's embedded Redis, so the task would "+
				"never be delivered: run enqueue in the worker's directory or with the worker's EMBEDDED_REDIS_ADDR, "+
				"or set REDIS_URL=redis://%s/0 if the worker uses that Redis", t.desc, t.opt.Addrs[0])
		}
	}
	return rdb, nil
}

func resourceChange(cfg config.Config, e env, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("resource-change", flag.ContinueOnError)
	fs.SetOutput(stdout)
	installationID := fs.Int64("installation-id", 0, "installation to deliver to (required)")
	ev := fs.String("event", "", "event, e.g. issue.created (required)")
	data := fs.String("data", "", "resource data: a JSON object, @FILE, or - for stdin (default {})")
	actor := fs.String("actor", "", `actor of the change: a JSON object such as {"type":"user","id":"1","name":"Ann"}, or @FILE (default: Sentry)`)
	projectID := fs.Int64("project-id", 0, "project the change belongs to")
	noCheck := fs.Bool("no-check", false, "do not look the installation up in the database (for producers without access to it)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *installationID == 0 {
		return errors.New("--installation-id is required (the installation_id that `worker seed` printed)")
	}
	if *ev == "" {
		return errors.New("--event is required, e.g. --event issue.created")
	}
	p := producer.ResourceChange{InstallationID: *installationID, Event: *ev}
	raw, err := readData("--data", *data, stdin, cfg.MaxPayloadBytes)
	if err != nil {
		return err
	}
	p.Data = raw
	if *actor == "-" {
		return errors.New("--actor: give the JSON or @FILE (stdin is for --data)")
	}
	if p.Actor, err = readData("--actor", *actor, nil, cfg.MaxPayloadBytes); err != nil {
		return err
	}
	if *projectID != 0 {
		p.ProjectID = projectID
	}
	b, err := producer.Encode(p, cfg.MaxPayloadBytes)
	if err != nil {
		return err
	}
	task := asynq.NewTask(producer.TypeResourceChange, b, producer.TaskOptions(maxRetry(cfg))...)
	target, err := resolveRedis(cfg, e)
	if err != nil {
		return err
	}
	if !*noCheck {
		checkInstallation(cfg, e, p.InstallationID, stderr)
	}
	rdb, err := connect(target, 2, e.retryWindow)
	if err != nil {
		return err
	}
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	id, err := enqueueRetrying(context.Background(), client, task, e.retryWindow)
	if err != nil {
		return fmt.Errorf("enqueue into redis at %s: %w", target.desc, err)
	}
	awaitReplica(target, rdb, stderr)
	fmt.Fprintln(stdout, id)
	fmt.Fprintf(stderr, "enqueue: wrote task %s to redis at %s\n", id, target.desc)
	return nil
}

// checkInstallation warns on w when the installation does not exist (or is
// not installed) in the database enqueue can reach: DATABASE_URL, else the
// embedded SQLite file in the working directory (e.dir, which models.Open
// also uses) if there is one. The task
// is enqueued anyway; the worker would skip it. A database it cannot reach
// is a warning too, never an error: producers need no database.
func checkInstallation(cfg config.Config, e env, id int64, w io.Writer) {
	label := "DATABASE_URL"
	if cfg.DatabaseURL == "" {
		label = filepath.Join(e.dir, models.EmbeddedDatabaseFile)
		if _, err := os.Stat(label); err != nil {
			fmt.Fprintf(w, "enqueue: installation %d not checked: no DATABASE_URL and no %s here (--no-check skips the check)\n",
				id, models.EmbeddedDatabaseFile)
			return
		}
	}
	db, err := models.Open(cfg.DatabaseURL)
	if err != nil {
		fmt.Fprintf(w, "enqueue: warning: installation %d not checked: %v\n", id, err)
		return
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = store.New(db).Target(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(w, "enqueue: warning: installation %d does not exist or is not installed in the database at %s: "+
			"the worker will skip this task (missing_installation); --no-check skips this check\n", id, label)
	case err != nil:
		fmt.Fprintf(w, "enqueue: warning: installation %d not checked: %v\n", id, err)
	}
}

// line is one non-blank line of `enqueue bulk`'s input and its number.
type line struct {
	n    int
	data []byte
}

// readLines calls emit for every non-blank line of r, trimmed, with its
// number (counting blank lines). A line longer than maxBytes is not kept:
// emit gets its number, its size and tooLong, and reading goes on with the
// next line, so one oversized line costs at most maxBytes of memory and
// loses nothing else. It returns how many lines it read.
func readLines(r io.Reader, maxBytes int, emit func(l line, size int, tooLong bool)) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for {
		var buf []byte
		size, tooLong := 0, false
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			size += len(chunk)
			if !tooLong && len(buf)+len(chunk) > maxBytes+2 { // room for "\r\n"
				tooLong, buf = true, nil
			}
			if !tooLong {
				buf = append(buf, chunk...)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return n, err
		}
		if size == 0 && err == io.EOF {
			return n, nil
		}
		n++
		if err == nil {
			size-- // the newline
		}
		text := bytes.TrimSpace(buf)
		switch {
		case tooLong:
			emit(line{n: n}, size, true)
		case len(text) > maxBytes:
			emit(line{n: n}, len(text), true)
		case len(text) > 0:
			emit(line{n: n, data: text}, len(text), false) // buf is this line's own
		}
		if err == io.EOF {
			return n, nil
		}
	}
}

// readData returns the --data value: inline JSON, @FILE or - (stdin), at
// most maxBytes (MAX_PAYLOAD_BYTES) of it: a larger one is refused without
// being read whole.
func readData(name, v string, stdin io.Reader, maxBytes int) (json.RawMessage, error) {
	var src io.Reader
	switch {
	case v == "":
		return nil, nil
	case v == "-":
		src = stdin
	case strings.HasPrefix(v, "@"):
		f, err := os.Open(v[1:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer f.Close()
		src = f
	default:
		src = strings.NewReader(v)
	}
	b, err := io.ReadAll(io.LimitReader(src, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxBytes {
		return nil, fmt.Errorf("%s: payload: more than %d bytes, over the limit of %d (MAX_PAYLOAD_BYTES)", name, maxBytes, maxBytes)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s: not valid JSON", name)
	}
	return json.RawMessage(b), nil
}

// bulk enqueues every valid line of stdin with several concurrent
// enqueuers sharing one pooled client; each validates its lines and
// enqueues them as they are (no re-encoding). Bad lines are reported by
// number and skipped.
func bulk(cfg config.Config, e env, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	fs.SetOutput(stdout)
	workers := fs.Int("workers", 256, "concurrent enqueuers")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (bulk reads its payloads from stdin)", fs.Arg(0))
	}
	if *workers < 1 {
		return errors.New("--workers must be at least 1")
	}
	target, err := resolveRedis(cfg, e)
	if err != nil {
		return err
	}
	rdb, err := connect(target, *workers+4, e.retryWindow)
	if err != nil {
		return err
	}
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	// On one node (and Sentinel) the enqueuers' commands go through
	// go-redis's auto-pipeliner: what they send at the same moment leaves
	// in one write and one round trip, which saves both this process and
	// Redis a syscall per task.
	if c, ok := rdb.(*redis.Client); ok {
		ap, err := c.AutoPipeline()
		if err != nil {
			return fmt.Errorf("redis auto-pipeline: %w", err)
		}
		client = asynq.NewClientFromRedisClient(ap)
	}

	lines := make(chan line, 4*(*workers))
	var ok, bad, failed atomic.Int64
	var down atomic.Bool // Redis did not answer for a whole retry window
	var mu sync.Mutex    // serialises reports on stderr
	report := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, format+"\n", a...)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Go(func() {
			for l := range lines {
				task, err := producer.NewTaskFromJSON(l.data, cfg.MaxPayloadBytes, maxRetry(cfg))
				if err != nil {
					bad.Add(1)
					report("line %d: %v", l.n, err)
					continue
				}
				if down.Load() {
					failed.Add(1)
					report("line %d: not enqueued: Redis did not answer for %s, so enqueue stopped trying", l.n, e.retryWindow.Round(time.Second))
					continue
				}
				if _, err := enqueueRetrying(context.Background(), client, task, e.retryWindow); err != nil {
					failed.Add(1)
					report("line %d: enqueue: %v", l.n, err)
					// One window per outage, not one per line: after it the
					// remaining lines fail at once (each reported).
					if errors.Is(err, errUnavailable) {
						down.Store(true)
					}
					continue
				}
				ok.Add(1)
			}
		})
	}
	n, readErr := readLines(stdin, cfg.MaxPayloadBytes, func(l line, size int, tooLong bool) {
		if tooLong {
			bad.Add(1)
			report("line %d: payload: %d bytes is over the limit of %d (MAX_PAYLOAD_BYTES)", l.n, size, cfg.MaxPayloadBytes)
			return
		}
		lines <- l
	})
	close(lines)
	wg.Wait()
	if ok.Load() > 0 {
		awaitReplica(target, rdb, stderr)
	}
	elapsed := time.Since(start)
	if readErr != nil {
		return fmt.Errorf("read stdin after line %d: %w", n, readErr)
	}
	rate := float64(ok.Load()) / elapsed.Seconds()
	fmt.Fprintf(stdout, "enqueued %d tasks in %.2fs (%.0f/s) to redis at %s; %d bad lines, %d failed\n", ok.Load(), elapsed.Seconds(), rate,
		target.desc, bad.Load(), failed.Load())
	if bad.Load() > 0 || failed.Load() > 0 {
		return fmt.Errorf("%d of %d lines not enqueued", bad.Load()+failed.Load(), n)
	}
	return nil
}
