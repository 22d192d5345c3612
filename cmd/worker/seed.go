package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/netguard"
)

// seedArgs are seed's flags.
type seedArgs struct {
	webhookURL, name, status, events, ownerEmail, projectIDs *string
}

// seedFlags declares seed's flags; --help prints their defaults.
func seedFlags() (*flag.FlagSet, seedArgs) {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	a := seedArgs{
		webhookURL: fs.String("webhook-url", "", "absolute http(s) URL the app's webhooks are POSTed to (required)"),
		name:       fs.String("name", "", "app name (default \"Hookworker Test App\")"),
		status:     fs.String("status", "internal", "app status: internal, published or unpublished"),
		events:     fs.String("events", strings.Join(event.Valid(), ","), "comma-separated events the app and hook subscribe to"),
		ownerEmail: fs.String("owner-email", "", "e-mail address of the organization's owner"),
		projectIDs: fs.String("project-ids", "", "comma-separated project ids the hook is limited to"),
	}
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: worker seed --webhook-url URL [flags]\n\nCreates an organization, owner, app, installation and service hook, and prints them as one JSON object.\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs, a
}

// seed creates an installation and prints it as one JSON object on out.
func seed(cfg config.Config, log *zap.Logger, args []string, out io.Writer) error {
	fs, a := seedFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("seed: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("seed: unexpected argument %q (flags only; see worker seed --help)", capQuote(fs.Arg(0)))
	}
	if *a.webhookURL == "" {
		return fmt.Errorf("seed: --webhook-url is required (an absolute http(s) URL, e.g. http://127.0.0.1:9999/hook)")
	}
	hook, err := checkWebhookURL(*a.webhookURL)
	if err != nil {
		return fmt.Errorf("seed: --webhook-url: %w", err)
	}
	if reason := refusedAtDelivery(cfg, hook); reason != "" {
		log.Warn("seed.webhook_url_refused: with this environment's WEBHOOK_ALLOW_PRIVATE and WEBHOOK_ALLOWED_NETWORKS the worker would refuse this destination at delivery; "+
			"for a receiver on your own machine run the worker with WEBHOOK_ALLOW_PRIVATE=true (local development only)",
			zap.String("webhook_url", hook.Redacted()), zap.String("reason", reason))
	}
	opts := models.SeedOptions{WebhookURL: *a.webhookURL, Name: *a.name, OwnerEmail: *a.ownerEmail}
	switch *a.status {
	case "internal":
		opts.Status = models.AppInternal
	case "published":
		opts.Status = models.AppPublished
	case "unpublished":
		opts.Status = models.AppUnpublished
	default:
		return fmt.Errorf("seed: --status %q: want internal, published or unpublished", capQuote(*a.status))
	}
	for _, e := range strings.Split(*a.events, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if _, _, err := event.Parse(e); err != nil {
			return fmt.Errorf("seed: --events: %w", err)
		}
		opts.Events = append(opts.Events, e)
	}
	for _, p := range strings.Split(*a.projectIDs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("seed: --project-ids: %q is not a positive integer", capQuote(p))
		}
		opts.ProjectIDs = append(opts.ProjectIDs, id)
	}
	db, err := openDB(cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db) //nolint:errcheck // closing at exit
	res, err := models.Seed(db, opts)
	if err != nil {
		return err
	}
	log.Info("seed.done", zap.Int64("installation_id", res.InstallationID), zap.String("sentry_app_slug", res.SentryAppSlug))
	return json.NewEncoder(out).Encode(res)
}

// checkWebhookURL accepts only what the worker can deliver to: an absolute
// http or https URL with a host. The error quotes the URL capped and with
// any password masked.
func checkWebhookURL(raw string) (*url.URL, error) {
	const want = "want an absolute http(s) URL with a host, e.g. http://127.0.0.1:9999/hook"
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %s", capQuote(raw), want)
	}
	shown := capQuote(u.Redacted())
	switch {
	case u.Scheme == "":
		return nil, fmt.Errorf("%q has no scheme: %s", shown, want)
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return nil, fmt.Errorf("%q: scheme %q is not http or https: %s", shown, capQuote(u.Scheme), want)
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q has no host: %s", shown, want)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port %q is not 1-65535", shown, capQuote(p))
		}
	}
	return u, nil
}

// refusedAtDelivery returns why the worker's network guard, configured as
// in cfg, would refuse u at delivery, or "". It uses the guard's decision
// functions on the URL and on the host's addresses; it resolves the host
// name but never connects anywhere.
func refusedAtDelivery(cfg config.Config, u *url.URL) string {
	g := netguard.New(cfg.WebhookAllowPrivate, cfg.WebhookAllowedNetworks)
	if err := g.CheckURL(u); err != nil {
		return err.Error()
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return "" // a literal address: CheckURL has judged it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "" // the worker resolves again at delivery; nothing to judge now
	}
	for _, ip := range addrs {
		if err := g.CheckAddr(ip.Unmap()); err != nil {
			return err.Error()
		}
	}
	return ""
}

// capQuote caps user input quoted in a message at 80 bytes.
func capQuote(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// utf8Start reports whether b begins a UTF-8 sequence.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
