package ops_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/tasks"
)

// TestExposureNeedsCredentials checks that an operator server listening
// beyond loopback without OPS_BASIC_AUTH is refused unless OPS_INSECURE says
// so, and that loopback addresses need neither.
func TestExposureNeedsCredentials(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr     string
		loopback bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.2:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{":8080", false},
		{"10.0.0.5:8080", false},
		{"worker.example.com:8080", false},
		{"no-port", false},
	}
	for _, c := range cases {
		require.Equal(t, c.loopback, ops.IsLoopbackAddr(c.addr), c.addr)
		err := ops.CheckExposure(c.addr, "", false)
		if c.loopback {
			require.NoError(t, err, c.addr)
		} else {
			require.ErrorIs(t, err, ops.ErrExposed, c.addr)
			require.ErrorContains(t, err, "OPS_BASIC_AUTH")
			require.ErrorContains(t, err, "OPS_INSECURE=true")
		}
		require.NoError(t, ops.CheckExposure(c.addr, "user:pass", false), c.addr)
		require.NoError(t, ops.CheckExposure(c.addr, "", true), c.addr)
	}

	// New applies it, before anything listens.
	rdb := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	o := ops.Options{Addr: "0.0.0.0:0", Redis: rdb.Client, RedisURL: rdb.URL, PingDB: ops.PingGorm(pg.DB),
		Gatherer: metrics.New().Registry, Log: zap.NewNop()}
	_, err := ops.New(o)
	require.True(t, errors.Is(err, ops.ErrExposed), "got %v", err)
	o.Insecure = true
	s, err := ops.New(o)
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(t.Context()))
}

// send makes one request with extra headers (a "Host" entry sets the Host
// header) and returns the reply.
func send(t *testing.T, method, url string, header map[string]string, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestCrossSitePostDoesNotPauseQueue sends the form POST a page on another
// site makes a browser send (Origin and Sec-Fetch-Site of that site, the
// credentials the browser replays) to the queue UI's pause endpoint: it is
// refused and the queue keeps running. The same request from the UI's own
// page pauses it, so the refusal is the guard's doing.
func TestCrossSitePostDoesNotPauseQueue(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	base := startServer(t, ops.Options{BasicAuth: "ops:pw", Redis: rdb.Client, RedisURL: rdb.URL,
		PingDB: ops.PingGorm(pg.DB), Gatherer: metrics.New().Registry})
	client := asynq.NewClientFromRedisClient(rdb.Client)
	t.Cleanup(func() { client.Close() })
	task, err := tasks.NewResourceChangeTask(tasks.ResourceChange{InstallationID: 1, Event: "issue.created"})
	require.NoError(t, err)
	_, err = client.Enqueue(task)
	require.NoError(t, err)
	inspector := asynq.NewInspectorFromRedisClient(rdb.Client)
	paused := func() bool {
		info, err := inspector.GetQueueInfo(tasks.QueueAppPlatform)
		require.NoError(t, err)
		return info.Paused
	}

	pause := base + "/monitoring/api/queues/" + tasks.QueueAppPlatform + ":pause"
	auth := "Basic b3BzOnB3" // ops:pw
	crossSite := []map[string]string{
		{"Authorization": auth, "Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"},
		{"Authorization": auth, "Origin": "http://attacker.example", "Content-Type": "text/plain"},
		{"Authorization": auth, "Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"},
		{"Authorization": auth, "Origin": "null", "Sec-Fetch-Site": "cross-site"},
	}
	for _, h := range crossSite {
		r := send(t, http.MethodPost, pause, h, "x=1")
		require.Equal(t, http.StatusForbidden, r.code, "%v: %s", h, r.body)
		require.Contains(t, r.body, "cross-origin request refused")
		require.False(t, paused(), "a cross-site POST paused the queue (%v)", h)
	}
	// DNS rebinding: the attacker's own name resolves to this server, so
	// the browser calls the request same-origin; the Host gives it away.
	rebound := map[string]string{"Authorization": auth, "Host": "attacker.example:" + strings.Split(base, ":")[2],
		"Origin": "http://attacker.example:" + strings.Split(base, ":")[2], "Sec-Fetch-Site": "same-origin"}
	r := send(t, http.MethodPost, pause, rebound, "")
	require.Equal(t, http.StatusMisdirectedRequest, r.code, r.body)
	require.False(t, paused())

	// The UI's own request goes through.
	r = send(t, http.MethodPost, pause, map[string]string{"Authorization": auth, "Origin": base, "Sec-Fetch-Site": "same-origin"}, "")
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	require.True(t, paused())
}

// TestHostMustNameTheServer checks the Host header against the address,
// localhost, IP addresses and OPS_ALLOWED_HOSTS, for every path: a page
// whose DNS name was rebound to this server reads nothing.
func TestHostMustNameTheServer(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t)
	pg := testenv.NewPostgres(t)
	base := startServer(t, ops.Options{Redis: rdb.Client, RedisURL: rdb.URL, PingDB: ops.PingGorm(pg.DB),
		Gatherer: metrics.New().Registry, AllowedHosts: []string{"ops.example.com", "*.corp.example"}})
	port := strings.Split(base, ":")[2]
	cases := []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LocalHost.", http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"10.1.2.3", http.StatusOK},
		{"ops.example.com", http.StatusOK},
		{"OPS.example.com:" + port, http.StatusOK},
		{"a.corp.example:" + port, http.StatusOK},
		{"corp.example", http.StatusMisdirectedRequest},
		{"x.ops.example.com", http.StatusMisdirectedRequest},
		{"attacker.example:" + port, http.StatusMisdirectedRequest},
		{"localhost.attacker.example", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io:" + port, http.StatusMisdirectedRequest},
	}
	for _, c := range cases {
		for _, path := range []string{"/metrics", "/monitoring/api/queues", "/debug/pprof/", "/readyz"} {
			r := send(t, http.MethodGet, base+path, map[string]string{"Host": c.host}, "")
			require.Equal(t, c.want, r.code, "Host %q %s: %s", c.host, path, r.body)
			if c.want != http.StatusOK {
				require.NotContains(t, r.body, "hookworker_")
				require.Contains(t, r.body, "OPS_ALLOWED_HOSTS")
			}
		}
	}
}
