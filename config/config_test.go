package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loadEnv runs Load on a fixed set of variables.
func loadEnv(env map[string]string) (Config, error) {
	return Load(func(k string) string { return env[k] })
}

// A real Redis gets 64 fetch loops, the embedded one 2, unless set.
func TestWorkerFetchersDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 2},
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}, 64},
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "WORKER_FETCHERS": "4"}, 4},
		{map[string]string{"WORKER_FETCHERS": "8"}, 8},
	} {
		c, err := loadEnv(tc.env)
		require.NoError(t, err)
		require.Equal(t, tc.want, c.WorkerFetchers, "%v", tc.env)
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadEnv(nil)
	require.NoError(t, err)
	require.Equal(t, Defaults(), c)

	// The documented defaults (interfaces.md, flow.md).
	require.Equal(t, "", c.RedisURL)
	require.Equal(t, "127.0.0.1:6379", c.EmbeddedRedisAddr)
	require.Equal(t, "", c.DatabaseURL)
	require.Equal(t, "", c.SMTPURL)
	require.Equal(t, "hookworker@localhost", c.MailFrom)
	require.Equal(t, "http://localhost:9000", c.BaseURL)
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	require.Equal(t, "", c.OpsBasicAuth)
	require.False(t, c.OpsReadOnly)
	require.Positive(t, c.WorkerConcurrency)
	require.Equal(t, time.Second, c.WebhookTimeout)
	require.Equal(t, 3, c.WebhookMaxRetries)
	require.Equal(t, 5*time.Minute, c.WebhookRetryDelay)
	require.False(t, c.WebhookAllowPrivate)
	require.Empty(t, c.WebhookAllowedNetworks)
	require.True(t, c.WebhookStandardHeaders)
	require.Equal(t, int64(1000), c.BrokenTimeoutThreshold)
	require.Equal(t, 5, c.MailMaxRetries)
	require.Equal(t, "json", c.LogFormat)
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, 1<<20, c.MaxPayloadBytes)

	// Blank values count as unset.
	c, err = loadEnv(map[string]string{"WEBHOOK_TIMEOUT": "  ", "LOG_LEVEL": ""})
	require.NoError(t, err)
	require.Equal(t, Defaults(), c)
}

// The per-app limit follows the concurrency unless it is set; 0 turns it off.
func TestWebhookAppConcurrencyDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 25},
		{map[string]string{"WORKER_CONCURRENCY": "2000"}, 100},
		{map[string]string{"WORKER_CONCURRENCY": "5"}, 1},
		{map[string]string{"WORKER_CONCURRENCY": "2000", "WEBHOOK_APP_CONCURRENCY": "0"}, 0},
		{map[string]string{"WEBHOOK_APP_CONCURRENCY": "3"}, 3},
	} {
		c, err := loadEnv(tc.env)
		require.NoError(t, err)
		require.Equal(t, tc.want, c.WebhookAppConcurrency, "%v", tc.env)
	}
	_, err := loadEnv(map[string]string{"WEBHOOK_APP_CONCURRENCY": "-1"})
	require.ErrorContains(t, err, "WEBHOOK_APP_CONCURRENCY")
}

func TestLoadEveryVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"REDIS_URL":                   "rediss://:pw@redis.example:6380/2",
		"EMBEDDED_REDIS_ADDR":         "127.0.0.1:7000",
		"DATABASE_URL":                "postgres://u:p@db.example:5432/hw?sslmode=disable",
		"SMTP_URL":                    "smtps://user:pass@mail.example:465",
		"MAIL_FROM":                   "Hooks <hooks@example.com>",
		"BASE_URL":                    "https://sentry.example.com",
		"HTTP_ADDR":                   "off",
		"OPS_BASIC_AUTH":              "ops:secret",
		"OPS_READ_ONLY":               "true",
		"OPS_INSECURE":                "true",
		"OPS_ALLOWED_HOSTS":           " ops.example.com, *.Corp.example ,",
		"WORKER_CONCURRENCY":          "250",
		"WORKER_FETCHERS":             "3",
		"WEBHOOK_APP_CONCURRENCY":     "7",
		"WEBHOOK_TIMEOUT":             "2500ms",
		"WEBHOOK_MAX_RETRIES":         "0",
		"WEBHOOK_RETRY_DELAY":         "90s",
		"WEBHOOK_ALLOW_PRIVATE":       "1",
		"WEBHOOK_ALLOWED_NETWORKS":    " 10.0.0.0/8, 192.168.1.5 ,fd00::/8,",
		"WEBHOOK_STANDARD_HEADERS":    "false",
		"BROKEN_TIMEOUT_THRESHOLD":    "5",
		"MAIL_MAX_RETRIES":            "9",
		"MAIL_RETRY_DELAY":            "1m",
		"LOG_FORMAT":                  "Console",
		"LOG_LEVEL":                   "DEBUG",
		"SHUTDOWN_TIMEOUT":            "20s",
		"TASK_CHECK_INTERVAL":         "100ms",
		"DELAYED_TASK_CHECK_INTERVAL": "2s",
		"MAX_PAYLOAD_BYTES":           "4096",
		"CACHE_TTL":                   "30s",
		"INGEST_ADDR":                 "127.0.0.1:8090",
		"INGEST_TOKENS":               " 0123456789abcdef , ,fedcba9876543210",
	}
	c, err := loadEnv(env)
	require.NoError(t, err)
	require.Equal(t, Config{
		RedisURL:              "rediss://:pw@redis.example:6380/2",
		EmbeddedRedisAddr:     "127.0.0.1:7000",
		DatabaseURL:           "postgres://u:p@db.example:5432/hw?sslmode=disable",
		SMTPURL:               "smtps://user:pass@mail.example:465",
		MailFrom:              "Hooks <hooks@example.com>",
		BaseURL:               "https://sentry.example.com",
		HTTPAddr:              "off",
		OpsBasicAuth:          "ops:secret",
		OpsReadOnly:           true,
		OpsInsecure:           true,
		OpsAllowedHosts:       []string{"ops.example.com", "*.corp.example"},
		WorkerConcurrency:     250,
		WorkerFetchers:        3,
		WebhookAppConcurrency: 7,
		WebhookTimeout:        2500 * time.Millisecond,
		WebhookMaxRetries:     0,
		WebhookRetryDelay:     90 * time.Second,
		WebhookAllowPrivate:   true,
		WebhookAllowedNetworks: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.5/32"), netip.MustParsePrefix("fd00::/8"),
		},
		BrokenTimeoutThreshold:   5,
		MailMaxRetries:           9,
		MailRetryDelay:           time.Minute,
		LogFormat:                "console",
		LogLevel:                 "debug",
		ShutdownTimeout:          20 * time.Second,
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: 2 * time.Second,
		MaxPayloadBytes:          4096,
		CacheTTL:                 30 * time.Second,
		IngestAddr:               "127.0.0.1:8090",
		IngestTokens:             []string{"0123456789abcdef", "fedcba9876543210"},
	}, c)

	// Every variable set above was read: changing any one of them to a bad
	// value is an error naming it (strings that accept anything excepted).
	free := map[string]bool{"EMBEDDED_REDIS_ADDR": true, "HTTP_ADDR": true, "INGEST_ADDR": true}
	for name := range env {
		if free[name] {
			continue
		}
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		bad[name] = "not valid at all"
		_, err := loadEnv(bad)
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "config: "+name+": "), "%s: %v", name, err)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, want string
	}{
		{"WEBHOOK_TIMEOUT", "5", `"5" is not a duration`},
		{"WEBHOOK_TIMEOUT", "fast", `"fast" is not a duration`},
		{"WEBHOOK_TIMEOUT", "0s", "out of range"},
		{"WEBHOOK_TIMEOUT", "-1s", "out of range"},
		{"WEBHOOK_RETRY_DELAY", "forever", "not a duration"},
		{"MAIL_RETRY_DELAY", "1x", "not a duration"},
		{"SHUTDOWN_TIMEOUT", "2h", "out of range"},
		{"TASK_CHECK_INTERVAL", "0", "out of range"},
		{"DELAYED_TASK_CHECK_INTERVAL", "1ms", "out of range"},
		{"CACHE_TTL", "abc", "not a duration"},
		{"WORKER_CONCURRENCY", "many", `"many" is not an integer`},
		{"WORKER_CONCURRENCY", "0", "0 is out of range [1, 10000]"},
		{"WORKER_CONCURRENCY", "1.5", "not an integer"},
		{"WEBHOOK_MAX_RETRIES", "-1", "out of range"},
		{"WEBHOOK_MAX_RETRIES", "101", "out of range"},
		{"MAIL_MAX_RETRIES", "x", "not an integer"},
		{"BROKEN_TIMEOUT_THRESHOLD", "0", "out of range"},
		{"BROKEN_TIMEOUT_THRESHOLD", "1e3", "not an integer"},
		{"MAX_PAYLOAD_BYTES", "100", "out of range"},
		{"OPS_READ_ONLY", "yes", `"yes" is not a boolean`},
		{"WEBHOOK_ALLOW_PRIVATE", "on", "not a boolean"},
		{"WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/33", `invalid network "10.0.0.0/33"`},
		{"WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8,localhost", `invalid network "localhost"`},
		{"WEBHOOK_ALLOWED_NETWORKS", "10.1.2.3/8", "host bits set (did you mean 10.0.0.0/8?)"},
		{"LOG_FORMAT", "xml", `"xml" is not one of json, console`},
		{"LOG_LEVEL", "trace", "is not one of"},
		{"REDIS_URL", "http://127.0.0.1:6379", `unknown scheme "http"`},
		{"REDIS_URL", "127.0.0.1:6379", "not a valid URL"},
		{"REDIS_URL", "redis://127.0.0.1:0/0", "invalid port"},
		{"DATABASE_URL", "postgres://db:70000/x", "invalid port"},
		{"REDIS_URL", "redis://", "no host"},
		{"REDIS_URL", "redis://127.0.0.1:6379/abc", `invalid database number: "abc"`},
		{"REDIS_URL", "redis://127.0.0.1:6379/0/1", "invalid URL path"},
		{"REDIS_URL", "redis://127.0.0.1:6379/0?dial_timeout=soon", "invalid dial_timeout"},
		{"REDIS_URL", "redis://127.0.0.1:6379/0?colour=blue", "unexpected option: colour"},
		{"REDIS_URL", "redis-sentinel://127.0.0.1:26379,127.0.0.1:26380", "redis-sentinel URL needs ?master=NAME"},
		{"REDIS_URL", "redis-sentinel://127.0.0.1:26379,sentinel-2?master=m", `host "sentinel-2" has no port`},
		{"REDIS_URL", "redis-cluster://127.0.0.1:7000/3", "redis-cluster URL cannot select a database (/3): a cluster has only database 0"},
		{"REDIS_URL", "redis-cluster://127.0.0.1:7000?master=m", `unknown option "master"`},
		{"REDIS_URL", "ftp://127.0.0.1:6379", "want redis, rediss, unix, redis-sentinel, rediss-sentinel, redis-cluster, rediss-cluster"},
		{"DATABASE_URL", "mysql://db/x", `unknown scheme "mysql"`},
		{"SMTP_URL", "imap://mail:143", `unknown scheme "imap"`},
		{"BASE_URL", "localhost:9000", "unknown scheme"},
		{"MAIL_FROM", "not an address", "is not an e-mail address"},
		{"OPS_BASIC_AUTH", "onlyuser", "want user:pass"},
		{"OPS_BASIC_AUTH", ":pass", "want user:pass"},
		{"OPS_INSECURE", "yes", "not a boolean"},
		{"OPS_ALLOWED_HOSTS", "ops.example.com:8080", "is not a host name"},
		{"OPS_ALLOWED_HOSTS", "http://ops.example.com", "is not a host name"},
		{"OPS_ALLOWED_HOSTS", "*", "is not a host name"},
		{"OPS_ALLOWED_HOSTS", "a,*.*.example.com", "is not a host name"},
	}
	for _, tt := range tests {
		_, err := loadEnv(map[string]string{tt.name: tt.value})
		require.Error(t, err, "%s=%s", tt.name, tt.value)
		msg := err.Error()
		require.True(t, strings.HasPrefix(msg, "config: "+tt.name+": "), "%s=%s: %v", tt.name, tt.value, msg)
		require.Contains(t, msg, tt.want, "%s=%s", tt.name, tt.value)
		require.NotContains(t, msg, "\n", "one line")
	}
}

// Errors about URLs that may carry credentials never repeat the password.
func TestLoadErrorsHidePasswords(t *testing.T) {
	t.Parallel()
	const pw = "hunter2secret"
	for _, tt := range []struct{ name, value string }{
		{"REDIS_URL", "http://:" + pw + "@127.0.0.1:6379/0"},
		{"REDIS_URL", "redis://:" + pw + "@127.0.0.1:notaport/0"},
		{"REDIS_URL", "redis://:" + pw + "%zz@127.0.0.1:6379/0"},
		{"REDIS_URL", "redis://user:" + pw + "@/0"},
		{"REDIS_URL", "redis://:" + pw + "@host/0 with space\x7f"},
		{"DATABASE_URL", "mysql://u:" + pw + "@db/x"},
		{"DATABASE_URL", "postgres://u:" + pw + "@db:99999999999/x"},
		{"SMTP_URL", "smtp://u:" + pw + "@mail:bad"},
		{"REDIS_URL", "redis-cluster://:" + pw + "@127.0.0.1:7000/1"},
		{"REDIS_URL", "redis-sentinel://:" + pw + "@127.0.0.1:26379"},
	} {
		_, err := loadEnv(map[string]string{tt.name: tt.value})
		require.Error(t, err, tt.value)
		require.Contains(t, err.Error(), tt.name)
		require.NotContains(t, err.Error(), pw, "%s error leaks the password: %v", tt.name, err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", Redact(""))
	require.Equal(t, "redis://:xxxxx@127.0.0.1:6379/0", Redact("redis://:hunter2@127.0.0.1:6379/0"))
	require.Equal(t, "smtp://user:xxxxx@mail:25", Redact("smtp://user:pw@mail:25"))
	require.Equal(t, "redis://127.0.0.1:6379/0", Redact("redis://127.0.0.1:6379/0"))
	require.Equal(t, "(unparsable URL)", Redact("redis://:hunter2@host:port/0"))
}

// The Standard Webhooks headers are on unless WEBHOOK_STANDARD_HEADERS turns
// them off.
func TestWebhookStandardHeaders(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": true, "true": true, "1": true, "false": false, "0": false, "FALSE": false} {
		c, err := loadEnv(map[string]string{"WEBHOOK_STANDARD_HEADERS": v})
		require.NoError(t, err, v)
		require.Equal(t, want, c.WebhookStandardHeaders, "WEBHOOK_STANDARD_HEADERS=%q", v)
	}
	_, err := loadEnv(map[string]string{"WEBHOOK_STANDARD_HEADERS": "off"})
	require.ErrorContains(t, err, "config: WEBHOOK_STANDARD_HEADERS: ")
}

func TestIngestSettings(t *testing.T) {
	t.Parallel()
	c, err := loadEnv(map[string]string{})
	require.NoError(t, err)
	require.False(t, c.IngestOn(), "off by default")
	c, err = loadEnv(map[string]string{"INGEST_ADDR": "off"})
	require.NoError(t, err)
	require.False(t, c.IngestOn())
	_, err = loadEnv(map[string]string{"INGEST_ADDR": "127.0.0.1:8090"})
	require.EqualError(t, err, "config: INGEST_TOKENS: required when INGEST_ADDR is set (the ingest API accepts no request without a token)")
	_, err = loadEnv(map[string]string{"INGEST_ADDR": "127.0.0.1:8090", "INGEST_TOKENS": "shortsecret"})
	require.EqualError(t, err, "config: INGEST_TOKENS: each token must be at least 16 characters without whitespace")
	c, err = loadEnv(map[string]string{"INGEST_ADDR": "127.0.0.1:8090", "INGEST_TOKENS": "0123456789abcdef"})
	require.NoError(t, err)
	require.True(t, c.IngestOn())
}

// REDIS_URL takes Sentinel and Cluster URLs as well as one node's.
func TestLoadRedisTopologies(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://127.0.0.1:6379/0",
		"unix:///run/redis.sock?db=2",
		"redis-sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/2?master=mymaster",
		"rediss-sentinel://127.0.0.1:26379?master=mymaster&sentinel_password=pw",
		"redis-cluster://127.0.0.1:7000,127.0.0.1:7001",
		"rediss-cluster://:pw@127.0.0.1:7000",
	} {
		c, err := loadEnv(map[string]string{"REDIS_URL": raw})
		require.NoError(t, err, raw)
		require.Equal(t, raw, c.RedisURL)
	}
}
