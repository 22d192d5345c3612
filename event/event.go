// Package event names the resource-change events hookworker delivers and
// splits them into resource and action.
package event

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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
// maxQuote bytes of name.
func Parse(name string) (resource, action string, err error) {
	if strings.Count(name, ".") != 1 {
		return "", "", fmt.Errorf("event %s must be <resource>.<action> with exactly one dot", quote(name))
	}
	resource, action, _ = strings.Cut(name, ".")
	if resource == "" || action == "" {
		return "", "", fmt.Errorf("event %s must be <resource>.<action> with both parts non-empty", quote(name))
	}
	if !isExtended(name) {
		return "", "", fmt.Errorf("unknown event %s", quote(name))
	}
	return resource, action, nil
}

// maxQuote is how much of a name an error quotes (internal/clamp's
// QuoteBytes; this package stays free of hookworker imports, for producers).
const maxQuote = 40

// quote quotes at most maxQuote bytes of s, cut at a character boundary,
// and says how long s was when it is cut.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	i := maxQuote
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strconv.Quote(s[:i]) + "…(" + strconv.Itoa(len(s)) + " bytes)"
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
