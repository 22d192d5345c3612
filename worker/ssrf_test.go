package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/requestlog"
	"github.com/hookworker/hookworker/tasks"
)

// ssrfCase is one webhook URL the default guard must refuse.
type ssrfCase struct {
	name string
	url  string
	// reason is a substring of the task's last error naming why.
	reason string
	// resolves marks a hostname: it is refused at dial time, after a DNS
	// lookup, by the dialer's Control hook (before connect). Every other
	// case must be refused by CheckURL without any lookup or dial.
	resolves bool
}

// ssrfCases returns the refused URLs; port is a live loopback receiver's, so
// a guard that failed open would be caught by the receiver seeing a request.
func ssrfCases(port string) []ssrfCase {
	return []ssrfCase{
		{"loopback literal", "http://127.0.0.1:" + port + "/", "127.0.0.1 is in the loopback network (127.0.0.0/8)", false},
		{"localhost", "http://localhost:" + port + "/", "loopback", true},
		{"IPv6 loopback", "http://[::1]:" + port + "/", "::1 is the loopback address", false},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + port + "/", "is in the loopback network", false},
		{"hex IPv4", "http://0x7f000001:" + port + "/", "invalid host: non-canonical numeric IPv4 form", false},
		{"decimal IPv4", "http://2130706433:" + port + "/", "invalid host: non-canonical numeric IPv4 form", false},
		{"octal IPv4", "http://017700000001:" + port + "/", "invalid host: non-canonical numeric IPv4 form", false},
		{"short IPv4", "http://127.1:" + port + "/", "invalid host: non-canonical numeric IPv4 form", false},
		{"unspecified", "http://0.0.0.0:" + port + "/", `is in the "this network" range`, false},
		{"IPv6 unspecified", "http://[::]:" + port + "/", "is the unspecified address", false},
		{"ftp", "ftp://127.0.0.1:" + port + "/", `unsupported URL scheme "ftp"`, false},
		{"file", "file:///etc/passwd", `unsupported URL scheme "file"`, false},
		{"RFC 1918", "http://10.0.0.1/", "10.0.0.1 is in a private network (10.0.0.0/8)", false},
		{"RFC 1918 192.168", "http://192.168.1.1:8080/", "is in a private network (192.168.0.0/16)", false},
		{"metadata", "http://169.254.169.254/latest/meta-data", "the cloud metadata service address", false},
		{"AWS IPv6 metadata", "http://[fd00:ec2::254]/", "the AWS metadata service address", false},
		{"IPv6 link-local", "http://[fe80::1]/", "is in the link-local network", false},
		{"CGNAT", "http://100.64.0.1/", "is in the carrier-grade NAT range", false},
		{"NAT64 of loopback", "http://[64:ff9b::7f00:1]:" + port + "/", "NAT64 address", false},
		{"6to4 of private", "http://[2002:a00:1::]/", "6to4 address", false},
	}
}

// requireRefusedWithoutDial fails the test unless the default guard refuses
// raw before any lookup or connection, so that a test can never make the
// worker dial a non-loopback address even if the worker's wiring were wrong.
func requireRefusedWithoutDial(t *testing.T, g *netguard.Guard, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	require.True(t, netguard.IsRefused(g.CheckURL(u)), "precondition: CheckURL must refuse %s without dialling", raw)
}

// requireLoopbackOnly fails the test unless host resolves only to loopback
// addresses here, so that a hostname case can never reach further.
func requireLoopbackOnly(t *testing.T, host string) {
	t.Helper()
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), host)
	require.NoError(t, err)
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		require.NoError(t, err)
		require.True(t, ip.Unmap().IsLoopback(), "precondition: %s resolves to non-loopback %s", host, a)
	}
}

// sentryAppKeys returns every request-log and breaker key of the test's
// Redis database (they all start with "sentry-app-").
func sentryAppKeys(t *testing.T, h *harness) []string {
	t.Helper()
	var keys []string
	iter := h.redis.Client.Scan(context.Background(), 0, "sentry-app-*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}

// TestSSRFRefused runs the default guard end to end: every forbidden URL is
// archived at once with the reason, the receiver behind the loopback ones
// sees nothing, nothing is written to the request log or the breaker, and
// the refused counter goes up by one per task.
func TestSSRFRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) { c.WebhookAllowPrivate = false }})
	rc := statusReceiver(t, http.StatusOK)
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	guard := netguard.New(false, nil)

	for _, tc := range ssrfCases(fmt.Sprint(port)) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.resolves {
				requireLoopbackOnly(t, "localhost")
			} else {
				requireRefusedWithoutDial(t, guard, tc.url)
			}
			before := testutil.ToFloat64(h.w.Metrics.Refused)
			seed := h.seed(models.SeedOptions{WebhookURL: tc.url})
			info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created",
				Data: json.RawMessage(`{"issue":{"id":"1"}}`)})

			got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
			require.Zero(t, got.Retried, "a refusal is archived at once")
			require.Contains(t, got.LastErr, "destination refused")
			require.Contains(t, got.LastErr, tc.reason)
			require.Equal(t, before+1, testutil.ToFloat64(h.w.Metrics.Refused))
			require.Zero(t, rc.count(), "the receiver must see nothing")
			require.Empty(t, sentryAppKeys(t, h), "a refusal writes no request log and no breaker key")
		})
	}
}

// TestSSRFAllowedNetworks opens 127.0.0.0/8 with WEBHOOK_ALLOWED_NETWORKS:
// loopback receivers are then delivered to, by literal address and by name,
// while a legacy numeric spelling of the same address stays refused.
func TestSSRFAllowedNetworks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WebhookAllowPrivate = false
		c.WebhookAllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	rc := statusReceiver(t, http.StatusOK)
	port := fmt.Sprint(rc.Listener.Addr().(*net.TCPAddr).Port)
	requireLoopbackOnly(t, "localhost")

	for i, raw := range []string{"http://127.0.0.1:" + port + "/hook", "http://localhost:" + port + "/hook"} {
		seed := h.seed(models.SeedOptions{WebhookURL: raw})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"})
		h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		require.Equal(t, i+1, rc.count(), "%s is delivered", raw)
		require.Len(t, h.lrange(requestlog.RequestKey(seed.SentryAppID, "issue.created")), 1)
	}

	seed := h.seed(models.SeedOptions{WebhookURL: "http://127.1:" + port + "/hook"})
	info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"})
	got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateArchived)
	require.Contains(t, got.LastErr, "non-canonical numeric IPv4 form")
	require.Equal(t, 2, rc.count())
	require.Equal(t, 1.0, testutil.ToFloat64(h.w.Metrics.Refused))
}

// TestSSRFRedirectNotFollowed has an allowed loopback receiver answer 302
// towards the metadata address and towards itself: neither is followed,
// the task completes with the 302 in the request log.
func TestSSRFRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	allowed := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	h := newHarness(t, harnessOptions{config: func(c *config.Config) {
		c.WebhookAllowPrivate = false
		c.WebhookAllowedNetworks = allowed
	}})
	// Even if the sender followed redirects, the guard would refuse this
	// one before connecting; check that first so the test cannot dial it.
	const metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
	requireRefusedWithoutDial(t, netguard.New(false, allowed), metadata)

	var self string
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		target := metadata
		if strings.HasSuffix(r.URL.Path, "/self") {
			target = self + "/again"
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
	self = rc.URL

	for i, path := range []string{"/metadata", "/self"} {
		seed := h.seed(models.SeedOptions{WebhookURL: rc.URL + path})
		info := h.enqueue(tasks.ResourceChange{InstallationID: seed.InstallationID, Event: "issue.created"})
		got := h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
		require.Zero(t, got.Retried)
		require.Equal(t, i+1, rc.count(), "the redirect is not followed")

		entries := h.lrange(requestlog.RequestKey(seed.SentryAppID, "issue.created"))
		require.Len(t, entries, 1)
		var e requestlog.Entry
		require.NoError(t, json.Unmarshal([]byte(entries[0]), &e))
		require.Equal(t, http.StatusFound, e.ResponseCode)
		require.Empty(t, h.lrange(requestlog.ErrorKey(seed.SentryAppID, "issue.created")))
	}
	for _, r := range rc.requests() {
		require.NotEqual(t, "/again", r.Path)
	}
	require.Zero(t, testutil.ToFloat64(h.w.Metrics.Refused))
}
