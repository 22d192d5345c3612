package redisconn_test

import (
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/redisconn"
)

const pw = "hunter2secret"

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw    string
		mode   redisconn.Mode
		addrs  []string
		db     int
		master string
		str    string
	}{
		{"redis://127.0.0.1:6379/0", redisconn.Single, []string{"127.0.0.1:6379"}, 0, "", "redis://127.0.0.1:6379/0"},
		{"redis://:" + pw + "@redis.example:6380/2", redisconn.Single, []string{"redis.example:6380"}, 2, "", "redis://:***@redis.example:6380/2"},
		{"REDISS://user:" + pw + "@redis.example/3?dial_timeout=2s", redisconn.Single, []string{"redis.example:6379"}, 3, "", "rediss://user:***@redis.example:6379/3"},
		{"unix:///run/redis.sock?db=4", redisconn.Single, []string{"/run/redis.sock"}, 4, "", "unix:///run/redis.sock?db=4"},
		{"redis-sentinel://h1:26379,h2:26379,h3:26379?master=mymaster", redisconn.Sentinel,
			[]string{"h1:26379", "h2:26379", "h3:26379"}, 0, "mymaster", "redis-sentinel://h1:26379,h2:26379,h3:26379/0?master=mymaster"},
		{"redis-sentinel://:" + pw + "@h1:26379,h2:26379/5?master=mymaster", redisconn.Sentinel,
			[]string{"h1:26379", "h2:26379"}, 5, "mymaster", "redis-sentinel://:***@h1:26379,h2:26379/5?master=mymaster"},
		{"rediss-sentinel://app:p%40ss@[::1]:26379,127.0.0.1:26380/1?master=m&sentinel_password=" + pw + "&sentinel_username=s", redisconn.Sentinel,
			[]string{"[::1]:26379", "127.0.0.1:26380"}, 1, "m", "rediss-sentinel://app:***@[::1]:26379,127.0.0.1:26380/1?master=m&sentinel_password=***"},
		{"redis-cluster://127.0.0.1:7000,127.0.0.1:7001", redisconn.Cluster, []string{"127.0.0.1:7000", "127.0.0.1:7001"}, 0, "", "redis-cluster://127.0.0.1:7000,127.0.0.1:7001"},
		{"redis-cluster://:" + pw + "@n1:7000/0", redisconn.Cluster, []string{"n1:7000"}, 0, "", "redis-cluster://:***@n1:7000"},
		{"rediss-cluster://n1:7000, n2:7000/", redisconn.Cluster, []string{"n1:7000", "n2:7000"}, 0, "", "rediss-cluster://n1:7000,n2:7000"},
	} {
		o, err := redisconn.Parse(tt.raw)
		require.NoError(t, err, tt.raw)
		require.Equal(t, tt.mode, o.Mode(), tt.raw)
		require.Equal(t, tt.addrs, o.Addrs, tt.raw)
		require.Equal(t, tt.db, o.DB, tt.raw)
		require.Equal(t, tt.master, o.MasterName, tt.raw)
		require.Equal(t, tt.str, o.String(), tt.raw)
		require.NotContains(t, o.String(), pw)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ raw, want string }{
		{"127.0.0.1:6379", "REDIS_URL: not a valid URL"},
		{"http://127.0.0.1:6379", `REDIS_URL: unknown scheme "http" (want redis, rediss, unix, redis-sentinel, rediss-sentinel, redis-cluster, rediss-cluster)`},
		{"redis-socket:///tmp/r.sock", `REDIS_URL: unknown scheme "redis-socket"`},
		{"redis://", "REDIS_URL: no host"},
		{"redis://127.0.0.1:0/0", "REDIS_URL: invalid port"},
		{"redis://127.0.0.1:6379/abc", `REDIS_URL: invalid database number: "abc"`},
		{"redis://127.0.0.1:6379/0/1", "REDIS_URL: invalid URL path"},
		{"redis://127.0.0.1:6379/0?colour=blue", "REDIS_URL: unexpected option: colour"},
		{"unix://", "REDIS_URL: empty unix socket path"},
		{"redis-sentinel://h1:26379,h2:26379", "REDIS_URL: redis-sentinel URL needs ?master=NAME"},
		{"rediss-sentinel://h1:26379/0?master=", "REDIS_URL: rediss-sentinel URL needs ?master=NAME"},
		{"redis-sentinel://h1:26379,x?master=m", `REDIS_URL: host "x" has no port`},
		{"redis-cluster://h1:7000,x", `REDIS_URL: host "x" has no port`},
		{"redis-cluster://h1:7000,,h2:7000", "REDIS_URL: empty host in the list"},
		{"redis-cluster://h1:0", `REDIS_URL: host "h1:0" has an invalid port`},
		{"redis-cluster://h1:port", `REDIS_URL: host "h1:port" has an invalid port`},
		{"redis-cluster://:7000", `REDIS_URL: host ":7000" has no name`},
		{"redis-cluster://", "REDIS_URL: redis-cluster URL has no host"},
		{"redis-sentinel://:" + pw + "@?master=m", "REDIS_URL: redis-sentinel URL has no host"},
		{"redis-cluster://h1:7000/3", "REDIS_URL: redis-cluster URL cannot select a database (/3): a cluster has only database 0"},
		{"redis-sentinel://h1:26379/x?master=m", `REDIS_URL: invalid database number: "x"`},
		{"redis-sentinel://h1:26379/0/1?master=m", `REDIS_URL: invalid database number: "0/1"`},
		{"redis-sentinel://h1:26379?master=m&db=2", `REDIS_URL: unknown option "db" in the redis-sentinel URL (accepted: master, sentinel_username, sentinel_password)`},
		{"redis-cluster://h1:7000?master=m", `REDIS_URL: unknown option "master": a redis-cluster URL takes none`},
		{"redis-sentinel://:" + pw + "%zz@h1:26379?master=m", "REDIS_URL: the password is not properly %-escaped"},
		{"redis-sentinel://h1:26379?master=m&sentinel_password=" + pw + "%zz", "REDIS_URL: the query of the redis-sentinel URL is not valid"},
	} {
		_, err := redisconn.Parse(tt.raw)
		require.Error(t, err, tt.raw)
		require.Contains(t, err.Error(), tt.want, tt.raw)
		require.NotContains(t, err.Error(), pw, tt.raw)
	}
}

func TestParsePasswordsNeverInErrors(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"http://:" + pw + "@127.0.0.1:6379/0",
		"redis://:" + pw + "@127.0.0.1:notaport/0",
		"redis://:" + pw + "%zz@127.0.0.1:6379/0",
		"redis://user:" + pw + "@/0",
		"redis://:" + pw + "@host/0 with space\x7f",
		"redis-cluster://:" + pw + "@h1:7000/9",
		"redis-sentinel://:" + pw + "@h1?master=m",
	} {
		_, err := redisconn.Parse(raw)
		require.Error(t, err, raw)
		require.NotContains(t, err.Error(), pw, raw)
	}
}

// NewClient returns go-redis's client for each mode, with the tuning
// applied: *redis.Client for one node (the worker's fast paths assert it)
// and for Sentinel, *redis.ClusterClient for a cluster.
func TestNewClientTypes(t *testing.T) {
	t.Parallel()
	tune := func(u *redis.UniversalOptions) { u.PoolSize = 7 }
	for raw, check := range map[string]func(redis.UniversalClient){
		"redis://127.0.0.1:1/3?dial_timeout=2s": func(c redis.UniversalClient) {
			opt := c.(*redis.Client).Options()
			require.Equal(t, 7, opt.PoolSize)
			require.Equal(t, 2, opt.Protocol)
			require.Equal(t, 3, opt.DB)
			require.Equal(t, "2s", opt.DialTimeout.String())
		},
		"redis-sentinel://127.0.0.1:1?master=m": func(c redis.UniversalClient) {
			opt := c.(*redis.Client).Options()
			require.Equal(t, 7, opt.PoolSize)
			require.Equal(t, 2, opt.Protocol)
		},
		"redis-cluster://127.0.0.1:1,127.0.0.1:2": func(c redis.UniversalClient) {
			opt := c.(*redis.ClusterClient).Options()
			require.Equal(t, 7, opt.PoolSize)
			require.Equal(t, 2, opt.Protocol)
		},
	} {
		o, err := redisconn.Parse(raw)
		require.NoError(t, err)
		c := redisconn.NewClient(o, tune)
		check(c)
		require.NoError(t, c.Close())
	}
}

// ConnOpt makes a new client on every call: asynqmon closes what it gets.
func TestConnOptMakesNewClients(t *testing.T) {
	t.Parallel()
	o, err := redisconn.Parse("redis-cluster://127.0.0.1:1")
	require.NoError(t, err)
	opt := o.ConnOpt(func(u *redis.UniversalOptions) { u.PoolSize = 3 })
	a, b := opt.MakeRedisClient().(*redis.ClusterClient), opt.MakeRedisClient().(*redis.ClusterClient)
	require.NotSame(t, a, b)
	require.Equal(t, 3, a.Options().PoolSize)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// On one node the client is the one the worker made before redisconn
// existed (redis.ParseURL, then the pool size and RESP2): same settings,
// field by field, so single-node behaviour and speed do not change.
func TestSingleNodeClientUnchanged(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://127.0.0.1:6379/0",
		"redis://user:pw@127.0.0.1:6380/3?dial_timeout=2s&read_timeout=3s&max_retries=5&pool_timeout=1s&min_idle_conns=2",
		"rediss://:pw@redis.example:6380/1",
		"unix:///run/redis.sock?db=2&protocol=3",
	} {
		old, err := redis.ParseURL(raw)
		require.NoError(t, err)
		old.PoolSize = 42
		if old.Protocol == 0 {
			old.Protocol = 2
		}
		oldClient := redis.NewClient(old)
		o, err := redisconn.Parse(raw)
		require.NoError(t, err)
		newClient := redisconn.NewClient(o, func(u *redis.UniversalOptions) { u.PoolSize = 42 }).(*redis.Client)

		a, b := reflect.ValueOf(*oldClient.Options()), reflect.ValueOf(*newClient.Options())
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if !f.IsExported() || f.Type.Kind() == reflect.Func || f.Type.Kind() == reflect.Interface {
				continue
			}
			if f.Name == "TLSConfig" {
				require.Equal(t, a.Field(i).IsNil(), b.Field(i).IsNil(), "%s: TLS", raw)
				continue
			}
			require.Equal(t, a.Field(i).Interface(), b.Field(i).Interface(), "%s: field %s", raw, f.Name)
		}
		require.NoError(t, oldClient.Close())
		require.NoError(t, newClient.Close())
	}
}
