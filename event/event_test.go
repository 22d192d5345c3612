package event

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, name := range Extended() {
		res, act, err := Parse(name)
		require.NoError(t, err, name)
		require.Equal(t, name, res+"."+act)
	}
	for _, bad := range []string{"", "issue", "issue.created.x", ".created", "issue.", "issue.exploded", "foo.bar"} {
		_, _, err := Parse(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "event")
	}
	res, act, err := Parse("error.created")
	require.NoError(t, err)
	require.Equal(t, "error", res)
	require.Equal(t, "created", act)
}

func TestValidIsSubsetOfExtended(t *testing.T) {
	t.Parallel()
	require.Len(t, Valid(), 9)
	require.Len(t, Extended(), 21)
	for _, v := range Valid() {
		require.True(t, isExtended(v), v)
	}
}

func TestValidAndExtendedLists(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"issue.created", "issue.resolved", "issue.ignored", "issue.assigned", "issue.unresolved",
		"error.created", "comment.created", "comment.updated", "comment.deleted"}, Valid())
	require.Equal(t, append(Valid(), "event_alert.triggered", "external_issue.created", "external_issue.linked",
		"installation.created", "installation.deleted", "select_options.requested", "metric_alert.open",
		"metric_alert.resolved", "metric_alert.critical", "metric_alert.warning", "alert_rule_action.requested",
		"alert_rule_action.error"), Extended())

	// Callers get their own copies.
	v := Valid()
	v[0] = "changed"
	require.Equal(t, "issue.created", Valid()[0])
	e := Extended()
	e[len(e)-1] = "changed"
	require.Equal(t, "alert_rule_action.error", Extended()[len(e)-1])
	_ = append(Valid()[:1], "x")
	require.Equal(t, "issue.resolved", Valid()[1])
}

func TestParseParts(t *testing.T) {
	t.Parallel()
	for name, want := range map[string][2]string{
		"event_alert.triggered":       {"event_alert", "triggered"},
		"alert_rule_action.requested": {"alert_rule_action", "requested"},
		"comment.deleted":             {"comment", "deleted"},
	} {
		res, act, err := Parse(name)
		require.NoError(t, err)
		require.Equal(t, want, [2]string{res, act})
	}
	for _, bad := range []string{"Issue.created", " issue.created", "issue.created ", "issue_created", "..", "."} {
		_, _, err := Parse(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestParseQuotesAtMost40Bytes(t *testing.T) {
	for _, name := range []string{strings.Repeat("a", 900<<10), "issue." + strings.Repeat("é", 1000), strings.Repeat("x", 500) + ".created"} {
		_, _, err := Parse(name)
		if err == nil {
			t.Fatalf("Parse(%.20q…) = nil", name)
		}
		if len(err.Error()) > 200 || !utf8.ValidString(err.Error()) {
			t.Fatalf("error of %d bytes (valid UTF-8: %v): %.120s", len(err.Error()), utf8.ValidString(err.Error()), err)
		}
	}
}
