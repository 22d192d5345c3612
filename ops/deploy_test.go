package ops_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// deployDir holds the shipped Prometheus rules and Grafana dashboard.
const deployDir = "../deploy"

// seriesName finds the series a PromQL expression names: hookworker's,
// asynq's, the Go client's, and Prometheus's own `up`.
var seriesName = regexp.MustCompile(`\b(?:hookworker|asynq|go|process)_[a-z0-9_]+\b|\bup\b`)

// exportedNames returns the series names of a Prometheus text exposition.
func exportedNames(t *testing.T, exposition string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		names[name] = true
	}
	return names
}

// alertExprs returns every rule expression of deploy/prometheus/alerts.yml.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	require.NoError(t, err)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	require.NotEmpty(t, out)
	return out
}

// dashboardExprs returns every query of deploy/grafana/hookworker.json,
// keyed by panel title and refId.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "hookworker.json"))
	require.NoError(t, err)
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, "hookworker", d.Title)
	out := map[string]string{}
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			out[p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestAlertRules checks deploy/prometheus/alerts.yml with promtool (check
// rules, then the unit tests in alerts_test.yml). It skips only when
// promtool is not installed (.ci/run installs Debian's prometheus package).
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (apt-get install -y prometheus); the alert rules are not checked")
	}
	dir := filepath.Join(deployDir, "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		require.Contains(t, string(out), "SUCCESS")
	}
	// Every alert of the issue is there.
	exprs := alertExprs(t)
	for _, a := range []string{"HookworkerIntegrationDisabled", "HookworkerWebhookErrorRate", "HookworkerWebhookTimeoutRate",
		"HookworkerQueueLatency", "HookworkerBacklogGrowing", "HookworkerRetriesGrowing", "HookworkerArchiveGrowing",
		"HookworkerDown", "HookworkerNotProcessing"} {
		require.Contains(t, exprs, a)
	}
	// Gauges never go through increase() or rate().
	gauge := regexp.MustCompile(`(?:increase|rate)\(\s*asynq_(?:queue_size|queue_latency_seconds|tasks_enqueued_total)`)
	for a, e := range exprs {
		require.NotRegexp(t, gauge, e, "%s applies a counter function to a gauge", a)
	}
}

// TestDeployQueriesNameExportedSeries scrapes a live worker's /metrics after
// real deliveries and checks that every series the dashboard and the alerts
// name is exported (`up` comes from Prometheus itself).
func TestDeployQueriesNameExportedSeries(t *testing.T) {
	t.Parallel()
	names := exportedNames(t, scrapeAfterDeliveries(t).body)
	require.True(t, names["hookworker_webhook_responses_total"], "the scrape has the delivery series")
	check := func(what string, exprs map[string]string) {
		for where, e := range exprs {
			found := seriesName.FindAllString(e, -1)
			require.NotEmpty(t, found, "%s %q names no series: %s", what, where, e)
			for _, n := range found {
				if n == "up" {
					continue
				}
				require.True(t, names[n], "%s %q names %s, which /metrics does not export", what, where, n)
			}
		}
	}
	check("dashboard panel", dashboardExprs(t))
	check("alert", alertExprs(t))
}
