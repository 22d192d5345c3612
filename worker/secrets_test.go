package worker_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/mail"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/tasks"
	"github.com/hookworker/hookworker/webhook"
)

// Secrets the configuration and the webhook URLs of TestSecretsNeverLogged
// carry; none of them may appear in a log line or a task error.
const (
	secretRedis = "redis-pw-7f3a9c51"
	secretDB    = "db-pw-2b8e4d17"
	secretSMTP  = "smtp-pw-91c5e0aa"
	secretOps   = "ops-pw-64d2f8b3"
	secretHook  = "hook-pw-0e7b3c92"
	// Tokens a webhook URL carries outside its password: as a lone user
	// name, as query values and as a path segment.
	secretUserToken  = "ghp_R4nd0mT0k3nV4lu3Xy9Zq"
	secretQueryToken = "qtok-f3a9c1e5b2d8"
	secretSigToken   = "sig-77e1b0c4"
	secretPathToken  = "Zx9Qk2Lm7Pw4Rt8Vb3Nc6Hy1"
)

// authSMTPServer is a minimal SMTP server on loopback that offers AUTH
// PLAIN, records the credentials it is sent and refuses them with 535, so a
// send_email task fails permanently after the password went over the wire.
type authSMTPServer struct {
	ln    net.Listener
	mu    sync.Mutex
	auths []string // decoded AUTH PLAIN responses
}

func newAuthSMTPServer(t *testing.T) *authSMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &authSMTPServer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	return s
}

func (s *authSMTPServer) addr() string { return s.ln.Addr().String() }

// credentials returns the decoded AUTH PLAIN responses received so far.
func (s *authSMTPServer) credentials() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

func (s *authSMTPServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 localhost ESMTP test")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250-localhost")
			say("250-AUTH PLAIN")
			say("250 8BITMIME")
		case "AUTH":
			parts := strings.Fields(line)
			resp := ""
			if len(parts) >= 3 {
				resp = parts[2]
			} else {
				say("334 ")
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				resp = strings.TrimSpace(l)
			}
			dec, _ := base64.StdEncoding.DecodeString(resp)
			s.mu.Lock()
			s.auths = append(s.auths, string(dec))
			s.mu.Unlock()
			say("535 5.7.8 Authentication credentials invalid")
		case "QUIT":
			say("221 bye")
			return
		case "RSET", "NOOP":
			say("250 OK")
		default:
			say("502 5.5.1 not implemented")
		}
	}
}

// encodedEntries renders every observed log entry as the JSON line the
// production encoder would write, fields included.
func encodedEntries(t *testing.T, h *harness) []string {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		MessageKey: "msg", LevelKey: "level", NameKey: "logger", CallerKey: "caller",
		StacktraceKey: "stacktrace", EncodeLevel: zapcore.LowercaseLevelEncoder,
		EncodeDuration: zapcore.StringDurationEncoder, EncodeCaller: zapcore.ShortCallerEncoder,
	})
	var out []string
	for _, e := range h.logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		require.NoError(t, err)
		out = append(out, buf.String())
		buf.Free()
	}
	return out
}

// taskErrors returns the last error of every task in both queues, in every
// state that keeps one.
func taskErrors(t *testing.T, h *harness) []string {
	t.Helper()
	var errs []string
	for _, q := range []string{tasks.QueueAppPlatform, tasks.QueueEmail} {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			h.inspector.ListArchivedTasks, h.inspector.ListRetryTasks, h.inspector.ListCompletedTasks,
			h.inspector.ListPendingTasks, h.inspector.ListScheduledTasks,
		} {
			infos, err := list(q, asynq.PageSize(1000))
			if err != nil && (strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found")) {
				continue
			}
			require.NoError(t, err)
			for _, i := range infos {
				errs = append(errs, i.LastErr)
			}
		}
	}
	return errs
}

// secretForms returns the secret and the encodings in which it could leak
// (HTTP basic auth, SMTP AUTH PLAIN, percent-encoding).
func secretForms(user, secret string) []string {
	return []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + secret)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + secret)),
	}
}

// TestSecretsNeverLogged runs deliveries that succeed, fail, are refused
// and trip the breaker (whose e-mail then fails SMTP authentication), with
// credentials in every setting that takes one, and checks that no log line
// at debug level (asynq's included) and no task error contains any of them.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	smtp := newAuthSMTPServer(t)
	now := time.Now().UTC()
	h := newHarness(t, harnessOptions{
		now: func() time.Time { return now },
		config: func(c *config.Config) {
			c.RedisURL = "redis://default:" + secretRedis + "@127.0.0.1:6379/3"
			c.DatabaseURL = "postgres://hookworker:" + secretDB + "@127.0.0.1:5432/hookworker?sslmode=disable"
			c.SMTPURL = "smtp://mailer:" + secretSMTP + "@" + smtp.addr()
			c.OpsBasicAuth = "ops:" + secretOps
			c.WebhookMaxRetries = 1
			c.MailMaxRetries = 1
		},
	})

	var mu sync.Mutex
	var authHeaders []string
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authHeaders = append(authHeaders, r.Header.Get("Authorization"))
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/ok"):
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/gone"):
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close())

	withAuth := func(base, path string) string {
		return strings.Replace(base, "http://", "http://hookuser:"+secretHook+"@", 1) + path
	}
	withToken := func(base, path string) string {
		return strings.Replace(base, "http://", "http://"+secretUserToken+"@", 1) + path + "/" + secretPathToken +
			"?token=" + secretQueryToken + "&keep=visible&sig=" + secretSigToken
	}
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	seeds := map[string]models.SeedResult{
		"ok":       h.seed(models.SeedOptions{WebhookURL: withAuth(rc.URL, "/ok"), Status: models.AppInternal}),
		"5xx":      h.seed(models.SeedOptions{WebhookURL: withToken(rc.URL, "/fail"), Status: models.AppInternal}),
		"conn":     h.seed(models.SeedOptions{WebhookURL: withToken("http://"+closedAddr, ""), Status: models.AppInternal}),
		"refused":  h.seed(models.SeedOptions{WebhookURL: fmt.Sprintf("http://hookuser:%s@127.1:%d/", secretHook, port)}),
		"refused2": h.seed(models.SeedOptions{WebhookURL: withToken(fmt.Sprintf("http://127.1:%d", port), "")}),
		"breaking": h.seed(models.SeedOptions{WebhookURL: withToken(rc.URL, "/gone"), Status: models.AppInternal}),
	}
	// Today's 404 disables the app, which e-mails its owner through SMTP_URL.
	sixErrorDays(t, h, seeds["breaking"], now)

	final := map[string]asynq.TaskState{
		"ok": asynq.TaskStateCompleted, "5xx": asynq.TaskStateArchived, "conn": asynq.TaskStateArchived,
		"refused": asynq.TaskStateArchived, "refused2": asynq.TaskStateArchived, "breaking": asynq.TaskStateCompleted,
	}
	for name, s := range seeds {
		info := h.enqueue(tasks.ResourceChange{InstallationID: s.InstallationID, Event: "issue.created"})
		h.waitState(tasks.QueueAppPlatform, info.ID, final[name])
	}
	var mailErr string
	h.waitFor(func() bool {
		infos, err := h.inspector.ListArchivedTasks(tasks.QueueEmail)
		if err != nil || len(infos) == 0 {
			return false
		}
		mailErr = infos[0].LastErr
		return true
	}, "the disable e-mail is archived after SMTP refuses the credentials")
	require.Contains(t, mailErr, "535")

	// The secrets were really used: the receiver got basic auth and signed
	// bodies, the SMTP server got the password.
	for _, r := range rc.requests() {
		if strings.HasSuffix(r.Path, "/ok") {
			require.True(t, webhook.Verify(seeds["ok"].ClientSecret, r.Body, r.Header.Get("Sentry-Hook-Signature")))
		}
	}
	mu.Lock()
	require.Contains(t, authHeaders, "Basic "+base64.StdEncoding.EncodeToString([]byte("hookuser:"+secretHook)))
	mu.Unlock()
	require.NotEmpty(t, smtp.credentials())
	require.Contains(t, smtp.credentials()[0], secretSMTP)

	var forbidden []string
	for _, s := range seeds {
		forbidden = append(forbidden, s.ClientSecret)
	}
	forbidden = append(forbidden, secretForms("default", secretRedis)...)
	forbidden = append(forbidden, secretForms("hookworker", secretDB)...)
	forbidden = append(forbidden, secretForms("mailer", secretSMTP)...)
	forbidden = append(forbidden, secretForms("ops", secretOps)...)
	forbidden = append(forbidden, secretForms("hookuser", secretHook)...)
	forbidden = append(forbidden, secretUserToken, secretQueryToken, secretSigToken, secretPathToken)

	logs := encodedEntries(t, h)
	require.NotEmpty(t, logs)
	require.True(t, containsLine(logs, `"logger":"asynq"`), "asynq's own log lines are captured")
	require.True(t, containsLine(logs, "sentryapp.disabled"), "the disable path ran")
	require.True(t, containsLine(logs, "/xxxxx?token=xxxxx&keep=visible&sig=xxxxx"), "URLs are logged redacted, not dropped")
	errs := taskErrors(t, h)
	require.GreaterOrEqual(t, len(errs), 5)
	for _, s := range forbidden {
		for _, l := range logs {
			require.NotContains(t, l, s, "a log line leaks a secret")
		}
		for _, e := range errs {
			require.NotContains(t, e, s, "a task error leaks a secret")
		}
	}
}

// sixErrorDays writes six earlier UTC days with errors only to the breaker
// of s, so that one more error today makes the app broken.
func sixErrorDays(t *testing.T, h *harness, s models.SeedResult, now time.Time) {
	t.Helper()
	for day := 1; day <= 6; day++ {
		require.NoError(t, h.rdb.HSet(context.Background(),
			breaker.Key(s.SentryAppID, s.OrganizationID, now.AddDate(0, 0, -day)), "error_count", 1).Err())
	}
}

// TestSecretsConsoleMail disables an app whose webhook URL carries a
// password while e-mails go to the log (no SMTP_URL, the local default):
// the logged e-mail and every other line must not contain the password.
func TestSecretsConsoleMail(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	h := newHarness(t, harnessOptions{now: func() time.Time { return now }})
	rc := statusReceiver(t, http.StatusNotFound)
	url := strings.Replace(rc.URL, "http://", "http://hookuser:"+secretHook+"@", 1) + "/gone/" + secretPathToken +
		"?api_key=" + secretQueryToken
	s := h.seed(models.SeedOptions{WebhookURL: url, Status: models.AppInternal})
	sixErrorDays(t, h, s, now)

	info := h.enqueue(tasks.ResourceChange{InstallationID: s.InstallationID, Event: "issue.created"})
	h.waitState(tasks.QueueAppPlatform, info.ID, asynq.TaskStateCompleted)
	h.waitFor(func() bool { return h.logs.FilterMessageSnippet("e-mail not sent").Len() == 1 }, "the e-mail is logged")

	logs := encodedEntries(t, h)
	require.True(t, containsLine(logs, "/gone/xxxxx?api_key=xxxxx"), "the e-mail names the webhook, redacted")
	for _, l := range logs {
		for _, f := range append(secretForms("hookuser", secretHook), secretPathToken, secretQueryToken) {
			require.NotContains(t, l, f, "a log line leaks a secret of the webhook URL")
		}
	}
	require.Equal(t, 1, rc.count())
}

// containsLine reports whether any line contains sub.
func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// TestConfigErrorsHideSecrets checks that the errors a bad setting produces
// (config.Load, then opening the mail sender and the database) never repeat
// the password it carries.
func TestConfigErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	const pw = "s3cr3t-Pa55w0rd"
	cases := []struct{ name, value string }{
		{"REDIS_URL", "redis://:" + pw + "@127.0.0.1:notaport/0"},
		{"REDIS_URL", "redis://user:" + pw + "@[::1/0"},
		{"REDIS_URL", "http://:" + pw + "@127.0.0.1:6379/0"},
		{"REDIS_URL", "redis://:" + pw + "@"},
		{"REDIS_URL", "redis://:" + pw + "@127.0.0.1:99999/0"},
		{"REDIS_URL", "redis//:" + pw + "@127.0.0.1:6379/0"},
		{"REDIS_URL", "redis://:" + pw + "%zz@127.0.0.1/0"},
		{"DATABASE_URL", "postgres://u:" + pw + "@db:port/x"},
		{"DATABASE_URL", "mysql://u:" + pw + "@db/x"},
		{"SMTP_URL", "smtp://u:" + pw + "@mail:0"},
		{"SMTP_URL", "smtp://u:" + pw + "%@mail"},
		{"OPS_BASIC_AUTH", pw},
		{"OPS_BASIC_AUTH", ":" + pw},
	}
	for _, tc := range cases {
		_, err := config.Load(func(k string) string {
			if k == tc.name {
				return tc.value
			}
			return ""
		})
		require.Error(t, err, "%s=%s", tc.name, tc.value)
		require.Contains(t, err.Error(), tc.name)
		require.NotContains(t, err.Error(), pw, "%s error echoes the password", tc.name)
	}

	_, err := mail.NewSender("smtp://u:"+pw+"%@mail", "a@b.c", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), pw)

	// A database that refuses the connection (nothing listens on port 1).
	_, err = models.Open("postgres://u:" + pw + "@127.0.0.1:1/x?sslmode=disable&connect_timeout=5")
	require.Error(t, err)
	require.NotContains(t, err.Error(), pw)
	_, err = models.Open("postgres://u:" + pw + "@127.0.0.1:badport/x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), pw)
}
