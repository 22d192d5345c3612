// Package redisconn turns REDIS_URL into go-redis clients: one Redis node
// (redis://, rediss://, unix://), a master watched by Redis Sentinel
// (redis-sentinel://, rediss-sentinel://) or a Redis Cluster
// (redis-cluster://, rediss-cluster://). Every component that talks to Redis
// builds its client here, so switching the URL is the whole change.
package redisconn

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Mode is the kind of Redis deployment a URL names.
type Mode int

const (
	// Single is one Redis node: redis://, rediss:// or unix://.
	Single Mode = iota
	// Sentinel is a master found through Redis Sentinel and followed across
	// failovers: redis-sentinel:// or rediss-sentinel://.
	Sentinel
	// Cluster is a Redis Cluster: redis-cluster:// or rediss-cluster://.
	Cluster
)

// String names the mode as the logs and docs do.
func (m Mode) String() string {
	switch m {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	default:
		return "single"
	}
}

// Schemes are the URL schemes Parse accepts, in the order error messages
// list them.
var schemes = []string{"redis", "rediss", "unix", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"}

// masked stands for a password in String.
const masked = "***"

// Options is a parsed REDIS_URL. The zero value is not usable; get one from
// Parse.
type Options struct {
	mode   Mode
	scheme string
	// Addrs are the node (single), Sentinel (sentinel) or seed (cluster)
	// addresses, host:port (a socket path for unix://).
	Addrs []string
	// DB is the database number (always 0 on a cluster).
	DB int
	// MasterName is the master's name the Sentinels know (sentinel mode).
	MasterName string

	username, password                 string
	sentinelUsername, sentinelPassword string
	tls                                bool
	// single holds go-redis's own parse of a single-node URL, with every
	// query option it accepts (dial_timeout, pool_size, …).
	single *redis.Options
}

// Mode reports whether o names one node, a Sentinel setup or a cluster.
func (o Options) Mode() Mode { return o.mode }

// String returns the URL fit for logs and messages: the password (and a
// Sentinel password) replaced by ***, query options other than master
// dropped.
func (o Options) String() string {
	var b strings.Builder
	b.WriteString(o.scheme)
	b.WriteString("://")
	if o.username != "" || o.password != "" {
		b.WriteString(url.PathEscape(o.username))
		if o.password != "" {
			b.WriteString(":" + masked)
		}
		b.WriteString("@")
	}
	if o.scheme == "unix" {
		b.WriteString(o.Addrs[0])
		fmt.Fprintf(&b, "?db=%d", o.DB)
		return b.String()
	}
	b.WriteString(strings.Join(o.Addrs, ","))
	if o.mode != Cluster {
		fmt.Fprintf(&b, "/%d", o.DB)
	}
	if o.mode == Sentinel {
		b.WriteString("?master=" + url.QueryEscape(o.MasterName))
		if o.sentinelPassword != "" {
			b.WriteString("&sentinel_password=" + masked)
		}
	}
	return b.String()
}

// Parse reads a REDIS_URL. Its errors start with "REDIS_URL: ", name what
// is wrong and never repeat a password.
func Parse(raw string) (Options, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return Options{}, fail("not a valid URL (want redis://host:port/db, redis-sentinel://host:port,…?master=NAME or redis-cluster://host:port,…)")
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "redis", "rediss", "unix":
		return parseSingle(raw, scheme)
	case "redis-sentinel", "rediss-sentinel":
		return parseMulti(scheme, rest, Sentinel)
	case "redis-cluster", "rediss-cluster":
		return parseMulti(scheme, rest, Cluster)
	default:
		if strings.ContainsAny(scheme, ":@/") {
			return Options{}, fail("not a valid URL")
		}
		return Options{}, fail("unknown scheme %q (want %s)", scheme, strings.Join(schemes, ", "))
	}
}

func fail(format string, a ...any) error {
	return fmt.Errorf("REDIS_URL: "+format, a...)
}

// parseSingle checks a single-node URL as go-redis reads it, so a mistake is
// reported by name at start ("invalid database number") rather than when
// connecting.
func parseSingle(raw, scheme string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fail("not a valid URL") // url's message repeats the URL
	}
	raw = scheme + raw[len(scheme):] // go-redis wants the scheme in lower case
	if scheme != "unix" {
		if u.Host == "" {
			return Options{}, fail("no host")
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return Options{}, fail("invalid port")
			}
		}
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		// go-redis's messages name the part that is wrong and never the
		// password ("invalid database number: \"x\"").
		return Options{}, errors.New("REDIS_URL: " + strings.TrimPrefix(err.Error(), "redis: "))
	}
	return Options{mode: Single, scheme: scheme, Addrs: []string{opt.Addr}, DB: opt.DB,
		username: opt.Username, password: opt.Password, tls: opt.TLSConfig != nil, single: opt}, nil
}

// parseMulti reads scheme://[user:password@]host:port[,host:port…][/db][?query]
// for Sentinel and Cluster. It splits the URL itself: net/url refuses a
// list of hosts with IPv6 literals.
func parseMulti(scheme, rest string, mode Mode) (Options, error) {
	o := Options{mode: mode, scheme: scheme, tls: strings.HasPrefix(scheme, "rediss")}
	rest, _, _ = strings.Cut(rest, "#")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		var err error
		if o.username, o.password, err = userinfo(authority[:i]); err != nil {
			return Options{}, err
		}
		authority = authority[i+1:]
	}
	if authority == "" {
		return Options{}, fail("%s URL has no host (want %s://host:port[,host:port…])", scheme, scheme)
	}
	for _, h := range strings.Split(authority, ",") {
		addr, err := hostPort(strings.TrimSpace(h))
		if err != nil {
			return Options{}, err
		}
		o.Addrs = append(o.Addrs, addr)
	}
	path, query, _ := strings.Cut(tail, "?")
	if db := strings.Trim(path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		switch {
		case err != nil || n < 0 || strings.Contains(db, "/"):
			return Options{}, fail("invalid database number: %q", db)
		case mode == Cluster && n != 0:
			return Options{}, fail("%s URL cannot select a database (/%d): a cluster has only database 0", scheme, n)
		}
		o.DB = n
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return Options{}, fail("the query of the %s URL is not valid", scheme) // it may hold a password
	}
	var accepted []string
	if mode == Sentinel {
		accepted = []string{"master", "sentinel_username", "sentinel_password"}
		o.MasterName = q.Get("master")
		o.sentinelUsername, o.sentinelPassword = q.Get("sentinel_username"), q.Get("sentinel_password")
		if o.MasterName == "" {
			return Options{}, fail("%s URL needs ?master=NAME (the name the Sentinels monitor the master by)", scheme)
		}
	}
	for k := range q {
		if !slices.Contains(accepted, k) {
			if len(accepted) == 0 {
				return Options{}, fail("unknown option %q: a %s URL takes none", k, scheme)
			}
			return Options{}, fail("unknown option %q in the %s URL (accepted: %s)", k, scheme, strings.Join(accepted, ", "))
		}
	}
	return o, nil
}

// userinfo splits and unescapes "user:password". Its errors never repeat
// either.
func userinfo(s string) (user, password string, err error) {
	u, p, _ := strings.Cut(s, ":")
	if user, err = url.PathUnescape(u); err != nil {
		return "", "", fail("the user name is not properly %%-escaped")
	}
	if password, err = url.PathUnescape(p); err != nil {
		return "", "", fail("the password is not properly %%-escaped")
	}
	return user, password, nil
}

// hostPort checks one host:port of a list.
func hostPort(h string) (string, error) {
	if h == "" {
		return "", fail("empty host in the list of hosts (hosts are separated by one comma)")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return "", fail("host %q has no port", h)
		}
		return "", fail("host %q is not host:port", h)
	}
	if host == "" {
		return "", fail("host %q has no name", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fail("host %q has an invalid port", h)
	}
	return net.JoinHostPort(host, port), nil
}

// NewClient returns a client for o. tune (nil allowed) adjusts the options
// before the client is made: pool size, timeouts. Protocol defaults to 2
// (RESP2): the worker uses no RESP3 feature, and under RESP3 go-redis peeks
// every connection for push notifications before each command. The client
// is a *redis.Client for one node and for Sentinel (go-redis's failover
// client), a *redis.ClusterClient for a cluster.
func NewClient(o Options, tune func(*redis.UniversalOptions)) redis.UniversalClient {
	u := &redis.UniversalOptions{
		Addrs: slices.Clone(o.Addrs), DB: o.DB, Username: o.username, Password: o.password,
		SentinelUsername: o.sentinelUsername, SentinelPassword: o.sentinelPassword,
		MasterName: o.MasterName, Protocol: 2,
	}
	if o.tls {
		// No ServerName: crypto/tls takes each node's host from the address
		// it dials.
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if o.single != nil {
		fromSingle(u, o.single)
	}
	if tune != nil {
		tune(u)
	}
	switch o.mode {
	case Sentinel, Cluster:
		if u.Dialer == nil {
			u.Dialer = unprobedDialer(u.DialTimeout, u.TLSConfig)
		}
		if o.mode == Sentinel {
			return redis.NewFailoverClient(u.Failover())
		}
		return redis.NewClusterClient(u.Cluster())
	}
	so := *o.single // never handed to a client, so a plain copy is a clean one
	if so.TLSConfig != nil {
		so.TLSConfig = so.TLSConfig.Clone()
	}
	toSingle(&so, u)
	so.Dialer = u.Dialer
	if so.Dialer == nil {
		so.Dialer = unprobedDialer(so.DialTimeout, so.TLSConfig)
	}
	return redis.NewClient(&so)
}

// fromSingle copies the tunable settings a single-node URL set (its query
// options) into u, so tune sees and may change them.
func fromSingle(u *redis.UniversalOptions, s *redis.Options) {
	if s.Protocol != 0 {
		u.Protocol = s.Protocol
	}
	u.ClientName = s.ClientName
	u.PoolSize, u.PoolTimeout, u.PoolFIFO = s.PoolSize, s.PoolTimeout, s.PoolFIFO
	u.MinIdleConns, u.MaxIdleConns, u.MaxActiveConns = s.MinIdleConns, s.MaxIdleConns, s.MaxActiveConns
	u.ConnMaxIdleTime, u.ConnMaxLifetime = s.ConnMaxIdleTime, s.ConnMaxLifetime
	u.DialTimeout, u.ReadTimeout, u.WriteTimeout = s.DialTimeout, s.ReadTimeout, s.WriteTimeout
	u.ContextTimeoutEnabled = s.ContextTimeoutEnabled
	u.MaxRetries, u.MinRetryBackoff, u.MaxRetryBackoff = s.MaxRetries, s.MinRetryBackoff, s.MaxRetryBackoff
	u.DisableIdentity = s.DisableIdentity
}

// toSingle copies the tunable settings back after tune.
func toSingle(s *redis.Options, u *redis.UniversalOptions) {
	s.Protocol, s.ClientName = u.Protocol, u.ClientName
	s.PoolSize, s.PoolTimeout, s.PoolFIFO = u.PoolSize, u.PoolTimeout, u.PoolFIFO
	s.MinIdleConns, s.MaxIdleConns, s.MaxActiveConns = u.MinIdleConns, u.MaxIdleConns, u.MaxActiveConns
	s.ConnMaxIdleTime, s.ConnMaxLifetime = u.ConnMaxIdleTime, u.ConnMaxLifetime
	s.DialTimeout, s.ReadTimeout, s.WriteTimeout = u.DialTimeout, u.ReadTimeout, u.WriteTimeout
	s.ContextTimeoutEnabled = u.ContextTimeoutEnabled
	s.MaxRetries, s.MinRetryBackoff, s.MaxRetryBackoff = u.MaxRetries, u.MinRetryBackoff, u.MaxRetryBackoff
	s.DisableIdentity = u.DisableIdentity
}

// ConnOpt returns an asynq.RedisConnOpt whose MakeRedisClient makes a NEW
// client for o, tuned by tune (as in NewClient), on every call. It is for
// asynqmon, which closes the clients it makes: it must never get a shared
// one.
func (o Options) ConnOpt(tune func(*redis.UniversalOptions)) asynq.RedisConnOpt {
	return connOpt{o: o, tune: tune}
}

type connOpt struct {
	o    Options
	tune func(*redis.UniversalOptions)
}

// MakeRedisClient implements asynq.RedisConnOpt.
func (c connOpt) MakeRedisClient() any {
	return NewClient(c.o, c.tune)
}

// unprobedDialer dials as go-redis's own dialer does (its keep-alive
// policy, TLS when configured) but hands go-redis a TCP or Unix connection
// without its syscall.Conn. go-redis then skips the liveness probe it
// otherwise makes each time it takes a connection from its pool, a
// non-blocking recvfrom(MSG_PEEK): one more syscall per command, about 4 %
// of a busy worker's CPU. It already skips that probe on TLS connections.
// A connection Redis closed while it sat idle in the pool fails on its
// next command instead, before anything was sent back, and go-redis
// retries that command on a new connection as for any broken connection.
func unprobedDialer(timeout time.Duration, tlsConfig *tls.Config) func(context.Context, string, string) (net.Conn, error) {
	d := &net.Dialer{
		Timeout:         cmp.Or(timeout, defaultDialTimeout),
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if tlsConfig != nil {
			td := &tls.Dialer{NetDialer: d, Config: tlsConfig}
			return td.DialContext(ctx, network, addr)
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return unprobedConn{c}, nil
	}
}

// defaultDialTimeout is go-redis's DialTimeout default.
const defaultDialTimeout = 5 * time.Second

// unprobedConn is a net.Conn that does not offer its file descriptor
// (syscall.Conn); see unprobedDialer.
type unprobedConn struct{ net.Conn }
