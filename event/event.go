// Package event names the resource-change events hookworker delivers and
// splits them into resource and action.
package event

import (
	"fmt"
	"strings"

	"github.com/hookworker/hookworker/internal/clamp"
)

// Valid returns VALID_EVENTS: the events a service hook can subscribe to, in
// Sentry's order. It returns a new slice each time.
func Valid() []string {
	return []string{
		"issue.created", "issue.resolved", "issue.ignored", "issue.assigned", "issue.unresolved",
		"error.created", "comment.created", "comment.updated", "comment.deleted",
	}
}

// Extended returns every event the request log accepts: Valid plus the
// alert, external-issue, installation and UI-component events.
func Extended() []string {
	return append(Valid(),
		"event_alert.triggered", "external_issue.created", "external_issue.linked",
		"installation.created", "installation.deleted", "select_options.requested",
		"metric_alert.open", "metric_alert.resolved", "metric_alert.critical", "metric_alert.warning",
		"alert_rule_action.requested", "alert_rule_action.error",
	)
}

// Parse checks that name is "<resource>.<action>" with exactly one dot and
// is in the extended set, and returns its two parts. Errors quote at most
// clamp.QuoteBytes of name.
func Parse(name string) (resource, action string, err error) {
	if strings.Count(name, ".") != 1 {
		return "", "", fmt.Errorf("event %s must be <resource>.<action> with exactly one dot", clamp.Quote(name))
	}
	resource, action, _ = strings.Cut(name, ".")
	if resource == "" || action == "" {
		return "", "", fmt.Errorf("event %s must be <resource>.<action> with both parts non-empty", clamp.Quote(name))
	}
	if !isExtended(name) {
		return "", "", fmt.Errorf("unknown event %s", clamp.Quote(name))
	}
	return resource, action, nil
}

func isExtended(name string) bool {
	switch name {
	case "issue.created", "issue.resolved", "issue.ignored", "issue.assigned", "issue.unresolved",
		"error.created", "comment.created", "comment.updated", "comment.deleted",
		"event_alert.triggered", "external_issue.created", "external_issue.linked",
		"installation.created", "installation.deleted", "select_options.requested",
		"metric_alert.open", "metric_alert.resolved", "metric_alert.critical", "metric_alert.warning",
		"alert_rule_action.requested", "alert_rule_action.error":
		return true
	}
	return false
}
