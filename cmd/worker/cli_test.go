package main

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// TestHelpExitsZero: --help works for every command, prints usage, and never
// runs the command nor reads the settings (a broken REDIS_URL is ignored).
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	env := envOf("REDIS_URL", "redis://127.0.0.1:1/abc", "DATABASE_URL", "postgres://127.0.0.1:1/none")
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"migrate", "--help"}, {"seed", "--help"}, {"seed", "-h"}, {"seed", "--webhook-url", "x", "--help"},
		{"healthcheck", "--help"},
	} {
		var out bytes.Buffer
		require.NoError(t, run(args, env, &out), "%v", args)
		require.Contains(t, out.String(), "usage", "%v", args)
		if args[0] == "seed" {
			require.Contains(t, out.String(), "-webhook-url", "%v lists seed's flags", args)
		}
	}
}

// TestSeedRefusesBadWebhookURLs: what the worker could never deliver to is
// refused with a message saying what is wanted, before any database work.
func TestSeedRefusesBadWebhookURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"not a url", "ftp://127.0.0.1/hook", "127.0.0.1:9991/hook", "http://", "localhost:9991",
		"/hook", "http:///hook", "https://host:0/", "http://host:99999/"} {
		err := run([]string{"seed", "--webhook-url", u}, envOf("DATABASE_URL", "postgres://127.0.0.1:1/unused"), &bytes.Buffer{})
		require.Error(t, err, u)
		require.Contains(t, err.Error(), "seed: --webhook-url", u)
		require.True(t, strings.Contains(err.Error(), "want an absolute http(s) URL with a host") || strings.Contains(err.Error(), "is not 1-65535"), "%s: %v", u, err)
	}
	err := run([]string{"seed", "--webhook-url", "ftp://user:s3cret@host/"}, envOf(), &bytes.Buffer{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}

// TestSeedWarnsWhenTheGuardWouldRefuse uses the guard's decision, never a
// connection: loopback and private destinations are refused at delivery
// unless WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWED_NETWORKS open them.
func TestSeedWarnsWhenTheGuardWouldRefuse(t *testing.T) {
	t.Parallel()
	def, err := config.Load(envOf())
	require.NoError(t, err)
	open, err := config.Load(envOf("WEBHOOK_ALLOW_PRIVATE", "true"))
	require.NoError(t, err)
	nets, err := config.Load(envOf("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8"))
	require.NoError(t, err)
	parse := func(s string) *url.URL {
		u, err := checkWebhookURL(s)
		require.NoError(t, err, s)
		return u
	}
	for _, u := range []string{"http://127.0.0.1:9999/hook", "http://localhost:9999/hook", "http://10.1.2.3/hook", "http://[::1]:9999/", "http://169.254.169.254/"} {
		require.NotEmpty(t, refusedAtDelivery(def, parse(u)), "%s must be refused at defaults", u)
	}
	require.Empty(t, refusedAtDelivery(open, parse("http://127.0.0.1:9999/hook")))
	require.Empty(t, refusedAtDelivery(open, parse("http://localhost:9999/hook")))
	require.Empty(t, refusedAtDelivery(nets, parse("http://10.1.2.3/hook")))
	require.NotEmpty(t, refusedAtDelivery(nets, parse("http://127.0.0.1/hook")))
	require.Empty(t, refusedAtDelivery(def, parse("https://93.184.216.34/hook")), "a public address is delivered to")
}

// TestRedisURLMistakesAreNamed: a REDIS_URL the client cannot read says
// what is wrong, not "<nil>".
func TestRedisURLMistakesAreNamed(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]string{
		"redis://:pw@127.0.0.1:6379/abc":              `invalid database number: "abc"`,
		"redis://127.0.0.1:6379/0?dial_timeout=soon":  "invalid dial_timeout",
		"redis-sentinel://:pw@127.0.0.1:26379":        "redis-sentinel URL needs ?master=NAME",
		"redis-cluster://:pw@127.0.0.1:7000,node-2/0": `host "node-2" has no port`,
		"redis://127.0.0.1:6379/0/1":                  "invalid URL path",
	} {
		err := run([]string{"migrate"}, envOf("REDIS_URL", u), &bytes.Buffer{})
		require.Error(t, err, u)
		require.Contains(t, err.Error(), want, u)
		require.NotContains(t, err.Error(), "<nil>", u)
		require.NotContains(t, err.Error(), ":pw@", u)
	}
	_, err := connectRedis(t.Context(), "redis://127.0.0.1:6379/abc", 1)
	require.ErrorContains(t, err, `REDIS_URL: invalid database number: "abc"`)
}

// TestNextSteps: the first run's guide names the walkthrough's commands,
// aimed at this worker's embedded Redis, and the UI's address.
func TestNextSteps(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf())
	require.NoError(t, err)
	s := nextSteps(cfg)
	for _, want := range []string{"go run ./cmd/receiver", "go run ./cmd/worker seed --webhook-url http://127.0.0.1:9999/hook",
		"go run ./cmd/enqueue resource-change", "WEBHOOK_ALLOW_PRIVATE=true", "http://127.0.0.1:8080/monitoring/"} {
		require.Contains(t, s, want)
	}
	require.NotContains(t, s, "EMBEDDED_REDIS_ADDR", "at the default address nothing needs saying")

	cfg, err = config.Load(envOf("EMBEDDED_REDIS_ADDR", "127.0.0.1:6390", "WEBHOOK_ALLOW_PRIVATE", "true", "HTTP_ADDR", ":9090"))
	require.NoError(t, err)
	s = nextSteps(cfg)
	require.Contains(t, s, "EMBEDDED_REDIS_ADDR=127.0.0.1:6390 go run ./cmd/worker seed")
	require.Contains(t, s, "EMBEDDED_REDIS_ADDR=127.0.0.1:6390 go run ./cmd/enqueue")
	require.NotContains(t, s, "refuses loopback")
	require.Contains(t, s, "http://127.0.0.1:9090/monitoring/")
}
