package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/models"
)

// seed creates an installation and prints it as one JSON object on out.
func seed(cfg config.Config, log *zap.Logger, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	webhookURL := fs.String("webhook-url", "", "URL the app's webhooks are POSTed to (required)")
	name := fs.String("name", "", "app name (default \"Hookworker Test App\")")
	status := fs.String("status", "internal", "app status: internal, published or unpublished")
	events := fs.String("events", strings.Join(event.Valid(), ","), "comma-separated events the app and hook subscribe to")
	ownerEmail := fs.String("owner-email", "", "e-mail address of the organization's owner")
	projectIDs := fs.String("project-ids", "", "comma-separated project ids the hook is limited to")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if *webhookURL == "" {
		return fmt.Errorf("seed: --webhook-url is required")
	}
	opts := models.SeedOptions{WebhookURL: *webhookURL, Name: *name, OwnerEmail: *ownerEmail}
	switch *status {
	case "internal":
		opts.Status = models.AppInternal
	case "published":
		opts.Status = models.AppPublished
	case "unpublished":
		opts.Status = models.AppUnpublished
	default:
		return fmt.Errorf("seed: --status %q: want internal, published or unpublished", *status)
	}
	for _, e := range strings.Split(*events, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if _, _, err := event.Parse(e); err != nil {
			return fmt.Errorf("seed: --events: %w", err)
		}
		opts.Events = append(opts.Events, e)
	}
	for _, p := range strings.Split(*projectIDs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("seed: --project-ids: %q is not a positive integer", p)
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
