package main

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"time"

	"github.com/redis/go-redis/v9"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/ops"
)

// Docker cannot run here, so these tests read docker-compose.yml and the
// Dockerfile and check them against the code: every setting they pass is one
// config knows and accepts, and every command they run exists and works.

const repoRoot = "../.."

// composeFile is the part of docker-compose.yml the checks read. The list
// and map forms are required (a string command or a list environment fails
// to decode, on purpose: one form is easier to review).
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Profiles    []string          `yaml:"profiles"`
	Build       string            `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(b, &f), "docker-compose.yml")
	require.NotEmpty(t, f.Services)
	return f
}

// hookworkerServices returns the services that run the image the Dockerfile
// builds.
func hookworkerServices(t *testing.T, f composeFile) map[string]composeService {
	t.Helper()
	out := map[string]composeService{}
	for name, s := range f.Services {
		if s.Build != "" && len(s.Profiles) == 0 {
			require.Equal(t, ".", s.Build, "service %s builds the repository's Dockerfile", name)
			out[name] = s
		}
	}
	require.Contains(t, out, "worker")
	require.Contains(t, out, "migrate")
	return out
}

// interpolate resolves compose's ${NAME:-default} and ${NAME} as an empty
// shell would: to the default, or to nothing.
func interpolate(v string) string {
	return regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`).ReplaceAllString(v, "$1")
}

func envGetter(env map[string]string) func(string) string {
	return func(name string) string { return interpolate(env[name]) }
}

func TestComposeSettingsAreKnown(t *testing.T) {
	t.Parallel()
	known := config.Variables()
	require.Contains(t, known, "REDIS_URL", "config.Variables lists what Load reads")
	require.Contains(t, known, "OPS_BASIC_AUTH")
	for name, s := range hookworkerServices(t, readCompose(t)) {
		require.NotEmpty(t, s.Environment, name)
		for k := range s.Environment {
			require.Contains(t, known, k, "service %s sets %s, which hookworker does not read", name, k)
		}
		_, err := config.Load(envGetter(s.Environment))
		require.NoError(t, err, "service %s: its environment must load", name)
	}

	w := readCompose(t).Services["worker"]
	cfg, err := config.Load(envGetter(w.Environment))
	require.NoError(t, err)
	require.NotEmpty(t, cfg.RedisURL, "the compose worker must use the Redis service, not the embedded one")
	require.NotEmpty(t, cfg.DatabaseURL, "the compose worker must use PostgreSQL, not SQLite")
	require.Equal(t, "smtp://mailpit:1025", cfg.SMTPURL)
	require.Equal(t, "0.0.0.0:8080", cfg.HTTPAddr, "the operator server must be reachable from outside the container")
	require.True(t, slices.ContainsFunc(w.Ports, func(p string) bool { return strings.HasSuffix(p, ":8080") }),
		"the operator port is published: %v", w.Ports)
	require.False(t, cfg.WebhookAllowPrivate, "the network guard stays on unless the person starting compose turns it off")
	require.Contains(t, w.Environment, "OPS_INSECURE", "compose says explicitly whether the operator server may run without credentials")
	require.NoError(t, ops.CheckExposure(cfg.HTTPAddr, cfg.OpsBasicAuth, cfg.OpsInsecure), "the compose worker must start")
	if cfg.OpsBasicAuth == "" {
		for _, p := range w.Ports {
			require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "without credentials the operator port is published on loopback only: %s", p)
		}
	}
}

func TestComposeDependencies(t *testing.T) {
	t.Parallel()
	f := readCompose(t)
	for name, s := range f.Services {
		for dep, d := range s.DependsOn {
			target, ok := f.Services[dep]
			require.True(t, ok, "%s depends on unknown service %s", name, dep)
			switch d.Condition {
			case "service_healthy":
				require.NotEmpty(t, target.Healthcheck.Test, "%s waits for %s to be healthy, which has no healthcheck", name, dep)
			case "service_completed_successfully", "service_started":
			default:
				require.Failf(t, "bad condition", "%s depends on %s with condition %q", name, dep, d.Condition)
			}
		}
	}
	w := f.Services["worker"]
	require.Equal(t, "service_completed_successfully", w.DependsOn["migrate"].Condition)
	require.Equal(t, "service_healthy", w.DependsOn["redis"].Condition)
	require.Equal(t, "service_healthy", f.Services["migrate"].DependsOn["postgres"].Condition)

	redis := f.Services["redis"]
	cmd := strings.Join(redis.Command, " ")
	require.Contains(t, cmd, "--appendonly yes", "queues must survive a Redis restart")
	require.Contains(t, cmd, "--maxmemory-policy noeviction", "Redis must never evict queue keys")
	m := regexp.MustCompile(`^redis:(\d+)\.(\d+)`).FindStringSubmatch(redis.Image)
	require.NotNil(t, m, "pin a Redis version: %s", redis.Image)
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	require.True(t, major > 6 || major == 6 && minor >= 2, "asynq needs Redis >= 6.2, compose has %s", redis.Image)
}

// TestComposeMigrateRuns runs the migrate service's command, as the image's
// entrypoint would, against a real PostgreSQL schema.
func TestComposeMigrateRuns(t *testing.T) {
	t.Parallel()
	s := readCompose(t).Services["migrate"]
	require.Equal(t, []string{"migrate"}, s.Command)
	pg := testenv.NewPostgres(t)
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = v
	}
	env["DATABASE_URL"] = pg.URL
	env["LOG_LEVEL"] = "warn"
	require.NoError(t, run(s.Command, envGetter(env), io.Discard))
	require.True(t, pg.DB.Migrator().HasTable("sentry_app_installations"), "migrate created the schema")
	require.NoError(t, run(s.Command, envGetter(env), io.Discard), "migrate is idempotent")
}

// TestComposeWorkerCommands checks the worker service's command (the
// entrypoint alone) and runs its healthcheck command against a stand-in
// operator server that is ready, then not.
func TestComposeWorkerCommands(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	w := readCompose(t).Services["worker"]
	require.Empty(t, w.Command, "the worker service runs the entrypoint, `worker`, without arguments")
	require.Equal(t, []string{"/usr/local/bin/worker"}, d.entrypoint)

	test := w.Healthcheck.Test
	require.GreaterOrEqual(t, len(test), 3, "healthcheck: %v", test)
	require.Equal(t, "CMD", test[0], "distroless has no shell: exec form only")
	require.Contains(t, d.installed, test[1], "the healthcheck binary is one the Dockerfile installs")
	require.Equal(t, d.healthcheck, test[1:], "compose and the Dockerfile use the same healthcheck")

	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	env := map[string]string{"HTTP_ADDR": strings.TrimPrefix(srv.URL, "http://"), "LOG_LEVEL": "error"}
	require.NoError(t, run(test[2:], envGetter(env), io.Discard))
	ready.Store(false)
	require.ErrorContains(t, run(test[2:], envGetter(env), io.Discard), "503")
}

// dockerfile is what the checks read from the Dockerfile.
type dockerfile struct {
	froms       []string
	builds      []string // packages named by `go build`
	installed   []string // paths the final stage copies binaries to
	entrypoint  []string
	healthcheck []string
	user        string
	env         map[string]string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	d := dockerfile{env: map[string]string{}}
	jsonList := regexp.MustCompile(`"([^"]*)"`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		fields := strings.Fields(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d.froms = append(d.froms, fields[0])
		case "RUN":
			if i := slices.Index(fields, "build"); i > 0 && fields[i-1] == "go" {
				for _, f := range fields[i+1:] {
					if strings.HasPrefix(f, "./") {
						d.builds = append(d.builds, f)
					}
				}
			}
		case "COPY":
			if len(fields) > 2 && strings.HasPrefix(fields[0], "--from=") {
				dst := fields[len(fields)-1]
				for _, src := range fields[1 : len(fields)-1] {
					d.installed = append(d.installed, dst+filepath.Base(src))
				}
			}
		case "ENTRYPOINT":
			for _, m := range jsonList.FindAllStringSubmatch(rest, -1) {
				d.entrypoint = append(d.entrypoint, m[1])
			}
		case "HEALTHCHECK":
			_, cmd, _ := strings.Cut(rest, "CMD ")
			for _, m := range jsonList.FindAllStringSubmatch(cmd, -1) {
				d.healthcheck = append(d.healthcheck, m[1])
			}
		case "USER":
			d.user = rest
		case "ENV":
			k, v, _ := strings.Cut(rest, "=")
			d.env[k] = v
		}
	}
	require.NoError(t, sc.Err())
	return d
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	require.GreaterOrEqual(t, len(d.froms), 2, "multi-stage build")
	require.Equal(t, "golang:1.26", d.froms[0])
	require.Equal(t, "0", d.env["CGO_ENABLED"], "static binaries for the distroless stage")
	require.ElementsMatch(t, []string{"./cmd/worker", "./cmd/enqueue"}, d.builds)
	for _, pkg := range d.builds {
		src, err := os.ReadFile(filepath.Join(repoRoot, pkg, "main.go"))
		require.NoError(t, err, "the Dockerfile builds %s", pkg)
		require.Contains(t, string(src), "package main", pkg)
	}
	require.ElementsMatch(t, []string{"/usr/local/bin/worker", "/usr/local/bin/enqueue"}, d.installed)
	require.Equal(t, []string{"/usr/local/bin/worker"}, d.entrypoint)
	require.NotEmpty(t, d.user)
	require.NotContains(t, []string{"root", "0", "root:root", "0:0"}, d.user, "the image runs as a non-root user")
	for k := range d.env {
		if k != "CGO_ENABLED" {
			require.Contains(t, config.Variables(), k, "the Dockerfile sets %s, which hookworker does not read", k)
		}
	}
	require.Equal(t, []string{"/usr/local/bin/worker", "healthcheck"}, d.healthcheck)

	// The image listens beyond its loopback, so it says explicitly that an
	// operator server without credentials is refused.
	require.Equal(t, "0.0.0.0:8080", d.env["HTTP_ADDR"])
	require.Equal(t, "false", d.env["OPS_INSECURE"])
	env := map[string]string{}
	for k, v := range d.env {
		env[k] = v
	}
	cfg, err := config.Load(envGetter(env))
	require.NoError(t, err)
	require.ErrorIs(t, ops.CheckExposure(cfg.HTTPAddr, cfg.OpsBasicAuth, cfg.OpsInsecure), ops.ErrExposed,
		"the image without OPS_BASIC_AUTH refuses to start")
}

// TestComposeSentinelProfile checks the optional "sentinel" profile: every
// service of it stays out of a plain `docker compose up`, its worker reaches
// the three Sentinels by the master name they monitor, and the Sentinels'
// start script, run here with the hostname and ports mapped to loopback,
// starts a real Sentinel that finds the master and its replica.
func TestComposeSentinelProfile(t *testing.T) {
	t.Parallel()
	f := readCompose(t)
	var sentinels []string
	for name, s := range f.Services {
		if strings.HasPrefix(name, "redis-sentinel-") {
			sentinels = append(sentinels, name)
		}
		if strings.HasPrefix(name, "redis-sentinel-") || name == "redis-primary" || name == "redis-replica" || name == "worker-sentinel" {
			require.Equal(t, []string{"sentinel"}, s.Profiles, "service %s belongs to the sentinel profile only", name)
		}
	}
	require.Len(t, sentinels, 3, "three Sentinels, so a quorum of 2 survives one")
	require.Equal(t, []string{"redis-server", "--appendonly", "yes", "--maxmemory-policy", "noeviction",
		"--replicaof", "redis-primary", "6379", "--replica-announce-ip", "redis-replica"}, f.Services["redis-replica"].Command)

	w := f.Services["worker-sentinel"]
	_, err := config.Load(envGetter(w.Environment))
	require.NoError(t, err, "the sentinel worker's environment must load")
	url := w.Environment["REDIS_URL"]
	require.True(t, strings.HasPrefix(url, "redis-sentinel://"), url)
	for _, name := range sentinels {
		require.Contains(t, url, name+":26379", "the worker knows every Sentinel")
		require.Equal(t, "service_healthy", w.DependsOn[name].Condition)
	}
	require.True(t, strings.HasSuffix(url, "?master=hookworker"), url)

	cmd := f.Services["redis-sentinel-1"].Command
	require.Len(t, cmd, 3, "sh -c <script>")
	require.Equal(t, []string{"sh", "-c"}, cmd[:2])
	script := cmd[2]
	require.Contains(t, script, "sentinel monitor hookworker redis-primary 6379 2")

	s := testenv.NewRedisSentinel(t)
	host, port, err := net.SplitHostPort(s.Master.Addr)
	require.NoError(t, err)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	own := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())
	script = strings.NewReplacer(
		"redis-primary 6379", host+" "+port,
		"'port 26379'", "'port "+own+"' 'bind 127.0.0.1' 'dir "+dir+"'",
		"/tmp/sentinel.conf", filepath.Join(dir, "sentinel.conf"),
	).Replace(script)
	ctx, cancel := context.WithCancel(context.Background())
	sh := exec.CommandContext(ctx, "sh", "-c", script)
	logPath := filepath.Join(dir, "sentinel.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()
	sh.Stdout, sh.Stderr = logFile, logFile
	require.NoError(t, sh.Start())
	t.Cleanup(func() { cancel(); _ = sh.Wait() })

	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + own, Protocol: 2})
	t.Cleanup(func() { _ = rdb.Close() })
	monitors := func() bool {
		m, err := rdb.Do(ctx, "SENTINEL", "MASTER", "hookworker").StringSlice()
		if err != nil {
			return false
		}
		fields := map[string]string{}
		for i := 0; i+1 < len(m); i += 2 {
			fields[m[i]] = m[i+1]
		}
		return fields["flags"] == "master" && fields["num-slaves"] == "1" && fields["quorum"] == "2"
	}
	for deadline := time.Now().Add(time.Minute); !monitors(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("the compose Sentinel did not monitor the master and find its replica; its output:\n%s", log)
		}
	}
}
