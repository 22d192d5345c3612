package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/ops"
)

// appsTimeout bounds one `worker apps` command.
const appsTimeout = 30 * time.Second

const appsUsage = `usage:
  worker apps list [--page N] [--per-page N] [--json]
                         every app: state, installations, 7 UTC days of breaker counters,
                         broken now, last failed request (disabled and failing first)
  worker apps show SLUG [--json]
                         one app per organization, and its disable/enable history
  worker apps requests SLUG [--event E] [--errors] [--org ORG_SLUG] [--json]
                         the request log, newest first (--json: Sentry's sentry-app-requests format)
  worker apps enable SLUG [--events a.b,c.d]
                         re-enable a disabled app (restores its events unless --events says otherwise)
  worker apps clear-breaker SLUG
                         delete the app's breaker counters in every organization
The same data and actions are on the operator server: /apps/ and /api/apps.
`

// errUsage marks bad command-line input.
var errUsage = errors.New("bad usage")

// appsDeps are what the apps commands read and act through.
type appsDeps struct {
	console *ops.Console
	close   func()
}

// newAppsDeps connects to the database and Redis (REDIS_URL, else the
// embedded Redis of a worker running here) and builds the console.
func newAppsDeps(cfg config.Config, log *zap.Logger) (appsDeps, error) {
	db, err := openDB(cfg, log)
	if err != nil {
		return appsDeps{}, err
	}
	raw := cfg.RedisURL
	if raw == "" {
		raw = "redis://" + cfg.EmbeddedRedisAddr + "/0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), appsTimeout)
	defer cancel()
	rdb, err := connectRedis(ctx, raw, 1)
	if err != nil {
		closeDB(db) //nolint:errcheck // already failing
		if cfg.RedisURL == "" {
			err = fmt.Errorf("%w (REDIS_URL is unset: is `worker` running with its embedded Redis?)", err)
		}
		return appsDeps{}, err
	}
	console, err := newConsole(cfg, db, rdb, log)
	if err != nil {
		rdb.Close()
		closeDB(db) //nolint:errcheck // already failing
		return appsDeps{}, err
	}
	return appsDeps{console: console, close: func() { rdb.Close(); closeDB(db) }}, nil //nolint:errcheck // closing at exit
}

// integrations returns what re-enables apps and clears breaker counters,
// for the operator server and `worker apps` alike: package lifecycle's
// Manager (wire: this is the one place it is built).
func integrations(_ config.Config, db *gorm.DB, rdb redis.UniversalClient, log *zap.Logger) ops.Integrations {
	return lifecycle.NewManager(lifecycle.Deps{DB: db, Redis: rdb, Log: log})
}

// newConsole builds the console on the worker's connections.
func newConsole(cfg config.Config, db *gorm.DB, rdb redis.UniversalClient, log *zap.Logger) (*ops.Console, error) {
	return ops.NewConsole(ops.ConsoleConfig{
		DB: db, Redis: rdb, Integrations: integrations(cfg, db, rdb, log),
		TimeoutThreshold: cfg.BrokenTimeoutThreshold, BaseURL: cfg.BaseURL,
	})
}

// apps runs `worker apps …`.
func apps(cfg config.Config, log *zap.Logger, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return fmt.Errorf("%w: apps: name a command\n%s", errUsage, appsUsage)
		}
		fmt.Fprint(out, appsUsage)
		return nil
	}
	deps := &lazy{cfg: cfg, log: log}
	defer deps.closeAll()
	return runApps(deps.get, args, out)
}

// lazy connects only when a command gets past its flags, so --help and bad
// flags need no database.
type lazy struct {
	cfg  config.Config
	log  *zap.Logger
	deps *appsDeps
}

func (l *lazy) get() (*ops.Console, error) {
	if l.deps == nil {
		d, err := newAppsDeps(l.cfg, l.log)
		if err != nil {
			return nil, err
		}
		l.deps = &d
	}
	return l.deps.console, nil
}

func (l *lazy) closeAll() {
	if l.deps != nil {
		l.deps.close()
	}
}

// runApps parses one apps command and runs it against the console that
// console() returns. It is apart from apps() so tests give it their own.
func runApps(console func() (*ops.Console, error), args []string, out io.Writer) error {
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("apps "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	var (
		page, perPage    *int
		evt, org, events *string
		errorsOnly       *bool
		wantSlug         = true
	)
	switch cmd {
	case "list":
		wantSlug = false
		page = fs.Int("page", 1, "page number")
		perPage = fs.Int("per-page", ops.PerPageDefault, fmt.Sprintf("apps per page (at most %d)", ops.PerPageMax))
	case "show":
	case "requests":
		evt = fs.String("event", "", "only this event type (e.g. issue.created)")
		errorsOnly = fs.Bool("errors", false, "only failed requests (4xx, 5xx, timeouts)")
		org = fs.String("org", "", "only this organization's requests (slug)")
	case "enable":
		events = fs.String("events", "", "comma-separated events to subscribe (default: those recorded at the disable)")
	case "clear-breaker":
	default:
		return fmt.Errorf("%w: apps: unknown command %q\n%s", errUsage, cmd, appsUsage)
	}
	slug, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: apps %s: %v", errUsage, cmd, err)
	}
	if wantSlug && slug == "" {
		return fmt.Errorf("%w: apps %s: name the app's slug", errUsage, cmd)
	}
	if !wantSlug && slug != "" {
		return fmt.Errorf("%w: apps %s: unexpected argument %q", errUsage, cmd, slug)
	}
	var enableEvents []string
	if events != nil && *events != "" {
		for _, e := range strings.Split(*events, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			if !slices.Contains(event.Valid(), e) {
				return fmt.Errorf("%w: apps enable: --events: unknown event %q (want some of %s)", errUsage, e, strings.Join(event.Valid(), ", "))
			}
			enableEvents = append(enableEvents, e)
		}
	}
	var q ops.RequestQuery
	if cmd == "requests" {
		v := url.Values{"eventType": {*evt}, "organizationSlug": {*org}}
		if *errorsOnly {
			v.Set("errorsOnly", "true")
		}
		if q, err = ops.ParseRequestQuery(v); err != nil {
			return fmt.Errorf("%w: apps requests: %v", errUsage, err)
		}
	}

	c, err := console()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), appsTimeout)
	defer cancel()
	switch cmd {
	case "list":
		p, err := c.Apps(ctx, *page, *perPage)
		if err != nil {
			return appsErr(cmd, slug, err)
		}
		if *asJSON {
			return encodeJSON(out, p)
		}
		printApps(out, p)
	case "show":
		d, err := c.App(ctx, slug, ops.RequestQuery{})
		if err != nil {
			return appsErr(cmd, slug, err)
		}
		if *asJSON {
			return encodeJSON(out, d)
		}
		printApp(out, d)
	case "requests":
		reqs, err := c.Requests(ctx, slug, q)
		if err != nil {
			return appsErr(cmd, slug, err)
		}
		if *asJSON {
			return encodeJSON(out, reqs)
		}
		printRequests(out, reqs)
	case "enable", "clear-breaker":
		if err := c.Lookup(ctx, slug); err != nil {
			return appsErr(cmd, slug, err)
		}
		in := c.Integrations()
		if in == nil {
			return fmt.Errorf("apps %s: this build cannot change integrations", cmd)
		}
		if cmd == "enable" {
			err = in.Enable(ctx, slug, enableEvents)
		} else {
			err = in.ClearBreaker(ctx, slug)
		}
		if err != nil {
			return appsErr(cmd, slug, err)
		}
		if *asJSON {
			return encodeJSON(out, map[string]string{"slug": slug, "result": map[string]string{"enable": "enabled", "clear-breaker": "cleared"}[cmd]})
		}
		if cmd == "enable" {
			fmt.Fprintf(out, "%s: enabled\n", slug)
		} else {
			fmt.Fprintf(out, "%s: breaker counters cleared\n", slug)
		}
	}
	return nil
}

// parseInterspersed parses flags before and after one positional argument
// (`requests SLUG --errors` and `requests --errors SLUG`).
func parseInterspersed(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(pos) {
	case 0:
		return "", nil
	case 1:
		return pos[0], nil
	default:
		return "", fmt.Errorf("one slug expected, got %q", pos)
	}
}

// appsErr words a console error for the command line.
func appsErr(cmd, slug string, err error) error {
	var bad *ops.BadRequestError
	switch {
	case errors.Is(err, lifecycle.ErrNotFound):
		return fmt.Errorf("apps %s: no app with slug %q", cmd, slug)
	case errors.Is(err, lifecycle.ErrAlreadyEnabled):
		return fmt.Errorf("apps %s: %s is already enabled", cmd, slug)
	case errors.As(err, &bad):
		return fmt.Errorf("%w: apps %s: %s", errUsage, cmd, bad.Detail)
	case errors.Is(err, lifecycle.ErrInvalidEvent), errors.Is(err, lifecycle.ErrNoEvents):
		return fmt.Errorf("%w: apps %s: %v", errUsage, cmd, err)
	}
	return fmt.Errorf("apps %s: %w", cmd, err)
}

func encodeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func state(s ops.AppSummary) string {
	if s.Enabled {
		return "enabled"
	}
	if s.DisabledSince != nil {
		return "disabled since " + s.DisabledSince.UTC().Format("2006-01-02 15:04")
	}
	return "disabled"
}

// sevenDays sums a window as success/error/timeout.
func sevenDays(s ops.AppSummary) string {
	if !s.Counted {
		return "not counted"
	}
	var ok, er, to int64
	for _, d := range s.Days {
		ok, er, to = ok+d.Success, er+d.Error, to+d.Timeout
	}
	return fmt.Sprintf("%d/%d/%d", ok, er, to)
}

func printApps(out io.Writer, p ops.AppsPage) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tNAME\tSTATUS\tSTATE\tINSTALLS\t7 DAYS OK/ERR/TIMEOUT\tBROKEN\tLAST FAILURE")
	for _, a := range p.Apps {
		last := "-"
		if a.LastFailure != nil {
			last = strconv.Itoa(a.LastFailure.ResponseCode) + " " + a.LastFailure.Date + " " + a.LastFailure.EventType
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", a.Slug, a.Name, a.Status, state(a), a.Installations, sevenDays(a), yesNo(a.BrokenNow), last)
	}
	tw.Flush() //nolint:errcheck // stdout
	fmt.Fprintf(out, "page %d of %d, %d apps\n", p.Page, p.Pages, p.Total)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printApp(out io.Writer, d ops.AppDetail) {
	fmt.Fprintf(out, "%s (%s)\nstatus:   %s\nstate:    %s\nwebhook:  %s\nevents:   %s\nbroken:   %s\n",
		d.Name, d.Slug, d.Status, state(d.AppSummary), d.WebhookURL, strings.Join(d.Events, ","), yesNo(d.BrokenNow))
	if d.LastFailure != nil {
		fmt.Fprintf(out, "last failed request: %d at %s (%s)\n", d.LastFailure.ResponseCode, d.LastFailure.Date, d.LastFailure.EventType)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "ORGANIZATION\tBROKEN"
	for _, day := range d.Days {
		header += "\t" + day.Date[5:]
	}
	fmt.Fprintln(tw, header+"\t(ok/err/timeout)")
	for _, o := range d.Organizations {
		row := o.Slug + "\t" + yesNo(o.BrokenNow)
		for _, day := range o.Days {
			row += fmt.Sprintf("\t%d/%d/%d", day.Success, day.Error, day.Timeout)
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush() //nolint:errcheck // stdout
	fmt.Fprintln(out, "\nhistory:")
	if len(d.History) == 0 {
		fmt.Fprintln(out, "  no disable or enable recorded")
	}
	for _, h := range d.History {
		fmt.Fprintf(out, "  %s  %s (%d)  org %s  by %s\n", h.Date.Format("2006-01-02 15:04:05"), h.Label, h.Event, h.Organization, h.Actor)
	}
}

func printRequests(out io.Writer, reqs []ops.Request) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE (UTC)\tEVENT\tCODE\tORGANIZATION\tRESPONSE BODY")
	for _, r := range reqs {
		org := "-"
		if r.Organization != nil {
			org = r.Organization.Slug
		}
		body := ""
		if r.ResponseBody != nil {
			body = oneLine(*r.ResponseBody, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Date, r.EventType, r.ResponseCode, org, body)
	}
	tw.Flush() //nolint:errcheck // stdout
	fmt.Fprintf(out, "%d requests\n", len(reqs))
}

// oneLine flattens s and cuts it to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
