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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/producer"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "enqueue:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  enqueue resource-change --installation-id ID --event EVENT [--data JSON|@FILE|-] [--project-id N]
                          enqueue one task and print its id
  enqueue bulk [--workers N] read one JSON payload per line from stdin and enqueue them all
Redis comes from REDIS_URL, else the worker's embedded Redis at EMBEDDED_REDIS_ADDR.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("a command is required\n" + usage)
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "resource-change":
		return resourceChange(cfg, args[1:], stdin, stdout, stderr)
	case "bulk":
		return bulk(cfg, args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

// connect returns a Redis client for REDIS_URL, or for the embedded Redis of
// a running worker, after checking that it answers.
func connect(cfg config.Config, poolSize int) (*redis.Client, error) {
	raw := cfg.RedisURL
	if raw == "" {
		raw = "redis://" + cfg.EmbeddedRedisAddr + "/0"
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %v", err)
	}
	opt.PoolSize = poolSize
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		hint := ""
		if cfg.RedisURL == "" {
			hint = " (REDIS_URL is unset: is `worker` running with its embedded Redis?)"
		}
		return nil, fmt.Errorf("redis at %s does not answer%s: %v", opt.Addr, hint, err)
	}
	return rdb, nil
}

func resourceChange(cfg config.Config, args []string, stdin io.Reader, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("resource-change", flag.ContinueOnError)
	installationID := fs.Int64("installation-id", 0, "installation to deliver to (required)")
	ev := fs.String("event", "", "event, e.g. issue.created (required)")
	data := fs.String("data", "", "resource data: JSON, @FILE, or - for stdin (default {})")
	projectID := fs.Int64("project-id", 0, "project the change belongs to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := producer.ResourceChange{InstallationID: *installationID, Event: *ev}
	raw, err := readData(*data, stdin, cfg.MaxPayloadBytes)
	if err != nil {
		return err
	}
	p.Data = raw
	if *projectID != 0 {
		p.ProjectID = projectID
	}
	b, err := producer.Encode(p, cfg.MaxPayloadBytes)
	if err != nil {
		return err
	}
	task := asynq.NewTask(producer.TypeResourceChange, b, producer.TaskOptions()...)
	rdb, err := connect(cfg, 2)
	if err != nil {
		return err
	}
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	info, err := client.Enqueue(task)
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	fmt.Fprintln(stdout, info.ID)
	return nil
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
func readData(v string, stdin io.Reader, maxBytes int) (json.RawMessage, error) {
	var src io.Reader
	switch {
	case v == "":
		return nil, nil
	case v == "-":
		src = stdin
	case strings.HasPrefix(v, "@"):
		f, err := os.Open(v[1:])
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		defer f.Close()
		src = f
	default:
		src = strings.NewReader(v)
	}
	b, err := io.ReadAll(io.LimitReader(src, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if len(b) > maxBytes {
		return nil, fmt.Errorf("--data: payload: more than %d bytes, over the limit of %d (MAX_PAYLOAD_BYTES)", maxBytes, maxBytes)
	}
	if !json.Valid(b) {
		return nil, errors.New("--data: not valid JSON")
	}
	return json.RawMessage(b), nil
}

// bulk enqueues every valid line of stdin with several concurrent
// enqueuers sharing one pooled client; each validates its lines and
// enqueues them as they are (no re-encoding). Bad lines are reported by
// number and skipped.
func bulk(cfg config.Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	workers := fs.Int("workers", 256, "concurrent enqueuers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workers < 1 {
		return errors.New("--workers must be at least 1")
	}
	rdb, err := connect(cfg, *workers+4)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// The enqueuers' commands go through go-redis's auto-pipeliner: what
	// they send at the same moment leaves in one write and one round trip,
	// which saves both this process and Redis a syscall per task.
	ap, err := rdb.AutoPipeline()
	if err != nil {
		return fmt.Errorf("redis auto-pipeline: %w", err)
	}
	client := asynq.NewClientFromRedisClient(ap)

	lines := make(chan line, 4*(*workers))
	var ok, bad, failed atomic.Int64
	var mu sync.Mutex // serialises reports on stderr
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
				task, err := producer.NewTaskFromJSON(l.data, cfg.MaxPayloadBytes)
				if err != nil {
					bad.Add(1)
					report("line %d: %v", l.n, err)
					continue
				}
				if _, err := client.Enqueue(task); err != nil {
					failed.Add(1)
					report("line %d: enqueue: %v", l.n, err)
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
	elapsed := time.Since(start)
	if readErr != nil {
		return fmt.Errorf("read stdin after line %d: %w", n, readErr)
	}
	rate := float64(ok.Load()) / elapsed.Seconds()
	fmt.Fprintf(stdout, "enqueued %d tasks in %.2fs (%.0f/s); %d bad lines, %d failed\n", ok.Load(), elapsed.Seconds(), rate, bad.Load(), failed.Load())
	if bad.Load() > 0 || failed.Load() > 0 {
		return fmt.Errorf("%d of %d lines not enqueued", bad.Load()+failed.Load(), n)
	}
	return nil
}
