// Package config loads hookworker's settings from the environment once, at
// start, with documented defaults and validation. A bad value stops the
// program with one line naming the variable.
package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hookworker/hookworker/netguard"
	"github.com/hookworker/hookworker/redisconn"
)

// Config is every setting of hookworker. Each field names its variable and
// default.
type Config struct {
	// RedisURL is REDIS_URL: redis://[:pass@]host:port/db, rediss://,
	// unix://, redis-sentinel://…?master=NAME or redis-cluster://… (see
	// package redisconn).
	// Empty means the embedded Redis. Defaults to empty.
	RedisURL string
	// EmbeddedRedisAddr is EMBEDDED_REDIS_ADDR, where `worker` listens with
	// its embedded Redis when RedisURL is empty. Defaults to 127.0.0.1:6379.
	EmbeddedRedisAddr string
	// DatabaseURL is DATABASE_URL: postgres://… Empty means the embedded
	// SQLite file hookworker.db. Defaults to empty.
	DatabaseURL string
	// SMTPURL is SMTP_URL: smtp://[user:pass@]host:port or smtps://. Empty
	// means e-mails are logged, not sent. Defaults to empty.
	SMTPURL string
	// MailFrom is MAIL_FROM, the sender address. Defaults to hookworker@localhost.
	MailFrom string
	// BaseURL is BASE_URL, the prefix of links in e-mails. Defaults to
	// http://localhost:9000.
	BaseURL string
	// HTTPAddr is HTTP_ADDR, the operator HTTP server's address; "off"
	// disables it. Defaults to 127.0.0.1:8080.
	HTTPAddr string
	// OpsBasicAuth is OPS_BASIC_AUTH, user:pass protecting /monitoring/ and
	// /metrics. Defaults to empty (open).
	OpsBasicAuth string
	// OpsReadOnly is OPS_READ_ONLY: mount the queue UI read-only and hide
	// and refuse the integration console's actions (re-enable, clear
	// breaker counters). Defaults to false.
	OpsReadOnly bool
	// OpsInsecure is OPS_INSECURE: let the operator server listen beyond
	// loopback without OPS_BASIC_AUTH (the worker refuses to start
	// otherwise), for ports a proxy or network policy already guards.
	// Defaults to false.
	OpsInsecure bool
	// OpsAllowedHosts is OPS_ALLOWED_HOSTS, a comma-separated list of host
	// names the operator server answers for besides localhost, HTTP_ADDR's
	// host and IP addresses ("*.example.com" allows every subdomain);
	// requests naming another host get 421, so DNS rebinding gets nothing.
	// Defaults to empty.
	OpsAllowedHosts []string
	// WorkerConcurrency is WORKER_CONCURRENCY, asynq's concurrency. The work
	// is I/O-bound and a dead endpoint holds a slot for WEBHOOK_TIMEOUT, so
	// it is high. Defaults to 500.
	WorkerConcurrency int
	// WorkerFetchers is WORKER_FETCHERS: the most asynq servers this
	// process runs, each fetching tasks in its own loop and holding
	// WorkerConcurrency/WorkerFetchers slots. One runs always; the others
	// start while the webhook queue has a backlog or a steady flow and stop
	// when it ebbs. asynq fetches serially, waiting for one Redis round trip
	// per task, so under load the number of fetch loops, not the CPU, caps
	// throughput. Defaults to 64 when REDIS_URL is set, 2 with the embedded
	// Redis.
	WorkerFetchers int
	// WebhookAppConcurrency is WEBHOOK_APP_CONCURRENCY: every app's first
	// limit of deliveries in flight at once in this process. The limit then
	// adapts: it grows with every answer (doubling per round trip until
	// the app's first failure), and halves on a timeout, connection error,
	// 5xx or 429, down to 1. A delivery over it waits up to
	// WEBHOOK_TIMEOUT/4 for a slot while the app answers, else is scheduled
	// again for later without using a retry. So a dead app holds at most
	// twice this many slots from its first delivery, and fewer once it has
	// timed out. 0 means no limit. Defaults to WORKER_CONCURRENCY/20 (at
	// least 1).
	WebhookAppConcurrency int
	// WebhookTimeout is WEBHOOK_TIMEOUT, covering a whole attempt. Defaults to 1s.
	WebhookTimeout time.Duration
	// WebhookMaxRetries is WEBHOOK_MAX_RETRIES: retries after the first
	// attempt. Defaults to 3.
	WebhookMaxRetries int
	// WebhookRetryDelay is WEBHOOK_RETRY_DELAY, the delay before a retry
	// (±10 % jitter). Defaults to 5m.
	WebhookRetryDelay time.Duration
	// WebhookAllowPrivate is WEBHOOK_ALLOW_PRIVATE: allow every non-global
	// destination but cloud metadata addresses (local development only).
	// Defaults to false.
	WebhookAllowPrivate bool
	// WebhookAllowedNetworks is WEBHOOK_ALLOWED_NETWORKS, a comma-separated
	// CIDR list of destinations allowed although non-global; a cloud
	// metadata address is opened only by its own /32 or /128, and an IPv4
	// prefix does not open its 6to4 or NAT64 spellings. Defaults to empty.
	WebhookAllowedNetworks []netip.Prefix
	// WebhookStandardHeaders is WEBHOOK_STANDARD_HEADERS: send the Standard
	// Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)
	// beside Sentry's, so receivers can verify with a Standard Webhooks
	// library; false sends Sentry's headers only. Defaults to true.
	WebhookStandardHeaders bool
	// BrokenTimeoutThreshold is BROKEN_TIMEOUT_THRESHOLD: timeouts in one UTC
	// day that make an internal integration broken. Defaults to 1000.
	BrokenTimeoutThreshold int64
	// MailMaxRetries is MAIL_MAX_RETRIES. Defaults to 5.
	MailMaxRetries int
	// MailRetryDelay is MAIL_RETRY_DELAY, the first e-mail retry delay,
	// doubled per retry. Defaults to 30s.
	MailRetryDelay time.Duration
	// LogFormat is LOG_FORMAT: json or console. Defaults to json.
	LogFormat string
	// LogLevel is LOG_LEVEL: debug, info, warn or error. Defaults to info.
	LogLevel string
	// ShutdownTimeout is SHUTDOWN_TIMEOUT: how long in-flight tasks may run
	// after SIGTERM before they go back to the queue. Defaults to 8s.
	ShutdownTimeout time.Duration
	// TaskCheckInterval is TASK_CHECK_INTERVAL: how often the always-on
	// fetch loop polls the queues while they are empty (asynq sleeps half
	// of it plus a random part up to all of it), so a task enqueued into an
	// idle worker waits about this long on average; the extra loops that
	// run while tasks flow poll 4 times as often. Defaults to 50ms.
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is DELAYED_TASK_CHECK_INTERVAL: how often
	// retries and scheduled tasks move to pending. Defaults to 1s.
	DelayedTaskCheckInterval time.Duration
	// MaxPayloadBytes is MAX_PAYLOAD_BYTES, the largest task payload
	// accepted. Defaults to 1048576 (1 MiB).
	MaxPayloadBytes int
	// CacheTTL is CACHE_TTL: how long an installation's delivery target is
	// cached; 0 disables the cache. A disable reaches every worker's cache
	// at once; other changes to the rows take up to this long. Defaults to 5s.
	CacheTTL time.Duration
	// IngestAddr is INGEST_ADDR, the address of the HTTP ingest API
	// (POST /v1/resource-changes) for producers in any language; empty or
	// "off" disables it. Defaults to off.
	IngestAddr string
	// IngestTokens is INGEST_TOKENS, the comma-separated bearer tokens the
	// ingest API accepts, each at least 16 characters without whitespace;
	// required when INGEST_ADDR is on. Defaults to empty.
	IngestTokens []string
}

// serverFetchers is WORKER_FETCHERS's default when REDIS_URL is set.
const serverFetchers = 64

// Defaults returns the configuration with every default applied.
func Defaults() Config {
	return Config{
		EmbeddedRedisAddr:        "127.0.0.1:6379",
		MailFrom:                 "hookworker@localhost",
		BaseURL:                  "http://localhost:9000",
		HTTPAddr:                 "127.0.0.1:8080",
		WorkerConcurrency:        500,
		WorkerFetchers:           2, // serverFetchers when REDIS_URL is set
		WebhookAppConcurrency:    25,
		WebhookTimeout:           time.Second,
		WebhookMaxRetries:        3,
		WebhookRetryDelay:        5 * time.Minute,
		WebhookStandardHeaders:   true,
		BrokenTimeoutThreshold:   1000,
		MailMaxRetries:           5,
		MailRetryDelay:           30 * time.Second,
		LogFormat:                "json",
		LogLevel:                 "info",
		ShutdownTimeout:          8 * time.Second,
		TaskCheckInterval:        50 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		MaxPayloadBytes:          1 << 20,
		CacheTTL:                 5 * time.Second,
	}
}

// Load reads the configuration through getenv (os.Getenv in production) and
// validates it. The error names the variable and the problem.
func Load(getenv func(string) string) (Config, error) {
	c := Defaults()
	p := parser{getenv: getenv}
	p.str("REDIS_URL", &c.RedisURL)
	p.str("EMBEDDED_REDIS_ADDR", &c.EmbeddedRedisAddr)
	p.str("DATABASE_URL", &c.DatabaseURL)
	p.str("SMTP_URL", &c.SMTPURL)
	p.str("MAIL_FROM", &c.MailFrom)
	p.str("BASE_URL", &c.BaseURL)
	p.str("HTTP_ADDR", &c.HTTPAddr)
	p.str("OPS_BASIC_AUTH", &c.OpsBasicAuth)
	p.boolean("OPS_READ_ONLY", &c.OpsReadOnly)
	p.boolean("OPS_INSECURE", &c.OpsInsecure)
	p.hosts("OPS_ALLOWED_HOSTS", &c.OpsAllowedHosts)
	p.integer("WORKER_CONCURRENCY", &c.WorkerConcurrency, 1, 10000)
	if c.RedisURL != "" && getenv("WORKER_FETCHERS") == "" {
		// A real Redis serves a real load. The embedded one serves one
		// developer, and its Lua runs interpreted in this process.
		c.WorkerFetchers = serverFetchers
	}
	p.integer("WORKER_FETCHERS", &c.WorkerFetchers, 1, 256)
	if getenv("WEBHOOK_APP_CONCURRENCY") == "" {
		c.WebhookAppConcurrency = max(1, c.WorkerConcurrency/20)
	}
	p.integer("WEBHOOK_APP_CONCURRENCY", &c.WebhookAppConcurrency, 0, 10000)
	p.duration("WEBHOOK_TIMEOUT", &c.WebhookTimeout, time.Millisecond, time.Minute)
	p.integer("WEBHOOK_MAX_RETRIES", &c.WebhookMaxRetries, 0, 100) // above tasks.TaskMaxRetry (3), producers must raise MaxRetry to match
	p.duration("WEBHOOK_RETRY_DELAY", &c.WebhookRetryDelay, 0, 24*time.Hour)
	p.boolean("WEBHOOK_ALLOW_PRIVATE", &c.WebhookAllowPrivate)
	p.networks("WEBHOOK_ALLOWED_NETWORKS", &c.WebhookAllowedNetworks)
	p.boolean("WEBHOOK_STANDARD_HEADERS", &c.WebhookStandardHeaders)
	p.int64("BROKEN_TIMEOUT_THRESHOLD", &c.BrokenTimeoutThreshold, 1, 1<<40)
	p.integer("MAIL_MAX_RETRIES", &c.MailMaxRetries, 0, 100)
	p.duration("MAIL_RETRY_DELAY", &c.MailRetryDelay, 0, 24*time.Hour)
	p.oneOf("LOG_FORMAT", &c.LogFormat, "json", "console")
	p.oneOf("LOG_LEVEL", &c.LogLevel, "debug", "info", "warn", "error")
	p.duration("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 0, time.Hour)
	p.duration("TASK_CHECK_INTERVAL", &c.TaskCheckInterval, time.Millisecond, time.Minute)
	p.duration("DELAYED_TASK_CHECK_INTERVAL", &c.DelayedTaskCheckInterval, 10*time.Millisecond, time.Minute)
	p.integer("MAX_PAYLOAD_BYTES", &c.MaxPayloadBytes, 1024, 64<<20)
	p.duration("CACHE_TTL", &c.CacheTTL, 0, time.Hour)
	p.str("INGEST_ADDR", &c.IngestAddr)
	if v, ok := p.get("INGEST_TOKENS"); ok {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				c.IngestTokens = append(c.IngestTokens, tok)
			}
		}
	}
	if p.err != nil {
		return Config{}, p.err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Variables returns the name of every environment variable Load reads, in
// the order it reads them. It is derived from Load itself, so deployment
// files can be checked against it and the list never drifts.
func Variables() []string {
	var names []string
	seen := map[string]bool{}
	_, _ = Load(func(name string) string {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return ""
	})
	return names
}

func (c Config) validate() error {
	if c.RedisURL != "" {
		if err := checkRedisURL(c.RedisURL); err != nil {
			return fmt.Errorf("config: REDIS_URL: %w", err)
		}
	}
	if c.DatabaseURL != "" {
		if err := checkURL(c.DatabaseURL, "postgres", "postgresql"); err != nil {
			return fmt.Errorf("config: DATABASE_URL: %w", err)
		}
	}
	if c.SMTPURL != "" {
		if err := checkURL(c.SMTPURL, "smtp", "smtps"); err != nil {
			return fmt.Errorf("config: SMTP_URL: %w", err)
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		return fmt.Errorf("config: MAIL_FROM: %q is not an e-mail address", c.MailFrom)
	}
	if err := checkURL(c.BaseURL, "http", "https"); err != nil {
		return fmt.Errorf("config: BASE_URL: %w", err)
	}
	if err := checkIngest(c.IngestAddr, c.IngestTokens); err != nil {
		return err
	}
	if c.OpsBasicAuth != "" {
		user, pass, ok := strings.Cut(c.OpsBasicAuth, ":")
		if !ok || user == "" || pass == "" {
			return fmt.Errorf("config: OPS_BASIC_AUTH: want user:pass")
		}
	}
	return nil
}

// IngestOn reports whether INGEST_ADDR turns the ingest API on.
func (c Config) IngestOn() bool {
	return c.IngestAddr != "" && !strings.EqualFold(c.IngestAddr, "off")
}

// checkIngest checks INGEST_TOKENS; its errors never repeat a token.
func checkIngest(addr string, tokens []string) error {
	for _, tok := range tokens {
		if len(tok) < 16 || strings.ContainsFunc(tok, unicode.IsSpace) {
			return fmt.Errorf("config: INGEST_TOKENS: each token must be at least 16 characters without whitespace")
		}
	}
	if addr != "" && !strings.EqualFold(addr, "off") && len(tokens) == 0 {
		return fmt.Errorf("config: INGEST_TOKENS: required when INGEST_ADDR is set (the ingest API accepts no request without a token)")
	}
	return nil
}

// checkRedisURL checks REDIS_URL as the Redis clients will read it
// (redisconn.Parse: one node, Sentinel or Cluster), so a mistake is reported
// by name at start ("invalid database number", "needs ?master=NAME") rather
// than when connecting. The error never repeats a password.
func checkRedisURL(raw string) error {
	if _, err := redisconn.Parse(raw); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "REDIS_URL: "))
	}
	return nil
}

// checkURL checks that raw parses and has one of the schemes and a host. The
// error never repeats the URL, which may hold a password.
func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a valid URL")
	}
	ok := false
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("unknown scheme %q (want %s)", u.Scheme, strings.Join(schemes, ", "))
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port")
		}
	}
	return nil
}

// parser reads variables and keeps the first error.
type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) get(name string) (string, bool) {
	if p.err != nil {
		return "", false
	}
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) fail(name, format string, args ...any) {
	p.err = fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...))
}

func (p *parser) str(name string, dst *string) {
	if v, ok := p.get(name); ok {
		*dst = v
	}
}

func (p *parser) boolean(name string, dst *bool) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "%q is not a boolean (want true or false)", v)
		return
	}
	*dst = b
}

func (p *parser) integer(name string, dst *int, lo, hi int) {
	var n int64
	p.int64(name, &n, int64(lo), int64(hi))
	if _, ok := p.get(name); ok {
		*dst = int(n)
	}
}

func (p *parser) int64(name string, dst *int64, lo, hi int64) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.fail(name, "%q is not an integer", v)
		return
	}
	if n < lo || n > hi {
		p.fail(name, "%d is out of range [%d, %d]", n, lo, hi)
		return
	}
	*dst = n
}

func (p *parser) duration(name string, dst *time.Duration, lo, hi time.Duration) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, "%q is not a duration (e.g. 1s, 500ms, 5m)", v)
		return
	}
	if d < lo || d > hi {
		p.fail(name, "%s is out of range [%s, %s]", d, lo, hi)
		return
	}
	*dst = d
}

func (p *parser) oneOf(name string, dst *string, allowed ...string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			*dst = a
			return
		}
	}
	p.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// hosts reads a comma-separated list of host names, each optionally
// starting with "*." for every subdomain.
func (p *parser) hosts(name string, dst *[]string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	var out []string
	for _, h := range strings.Split(v, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		bare := strings.TrimPrefix(h, "*.")
		if strings.ContainsAny(bare, "/:@ *") || strings.HasPrefix(bare, ".") {
			p.fail(name, "%q is not a host name (want e.g. ops.example.com or *.example.com, without port or scheme)", cutQuote(h))
			return
		}
		out = append(out, h)
	}
	*dst = out
}

// cutQuote caps a value quoted in an error message.
func cutQuote(s string) string {
	const limit = 40
	n := 0
	for i := range s {
		if n == limit {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func (p *parser) networks(name string, dst *[]netip.Prefix) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	// The guard's own parser: it refuses a prefix with host bits set
	// (10.1.2.3/8), so a typo cannot open a bigger network than meant.
	nets, err := netguard.ParseNetworks(v)
	if err != nil {
		p.fail(name, "%v", err)
		return
	}
	*dst = nets
}
