//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a throwaway redis-server of one test on a free loopback
// port, with AOF persistence so that a restart keeps the queues.
type redisServer struct {
	t        *testing.T
	port     int
	dir      string
	password string
	proc     *proc
}

// startRedis starts a redis-server; password may be empty.
func startRedis(t *testing.T, password string) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	r := &redisServer{t: t, port: freePort(t), dir: t.TempDir(), password: password}
	r.start()
	return r
}

// start (re)starts the server on its port and data directory and waits
// until it answers.
func (r *redisServer) start() {
	r.t.Helper()
	args := []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--maxmemory-policy", "noeviction", "--daemonize", "no", "--protected-mode", "yes",
	}
	if r.password != "" {
		args = append(args, "--requirepass", r.password)
	}
	r.proc = startProc(r.t, "redis-server", "redis-server", baseEnv(), args...)
	c := r.client()
	defer c.Close()
	waitUntil(r.t, 20*time.Second, func() bool {
		return r.proc.exited() || c.Ping(context.Background()).Err() == nil
	}, "redis-server on port %d does not answer", r.port)
	if r.proc.exited() {
		r.t.Fatalf("redis-server exited:\n%s", r.proc.tail(20))
	}
}

// stop ends the server with SIGTERM, which makes Redis flush its AOF, and
// waits for it to exit.
func (r *redisServer) stop() {
	r.t.Helper()
	r.proc.signal(syscall.SIGTERM)
	if err := r.proc.wait(30 * time.Second); err != nil {
		r.t.Fatalf("redis-server exit: %v\n%s", err, r.proc.tail(20))
	}
}

// url is the REDIS_URL of database 0.
func (r *redisServer) url() string {
	if r.password != "" {
		return fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", r.password, r.port)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
}

// client returns a new client of database 0; the caller closes it.
func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), Password: r.password,
		DialTimeout: time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1})
}

// pgServer is a throwaway PostgreSQL cluster of one test (initdb in a
// temporary directory), for the test that stops the database; the
// machine's shared PostgreSQL is never touched.
type pgServer struct {
	t      *testing.T
	bindir string
	dir    string
	port   int
	asUser []string // "runuser -u postgres --" when running as root
}

// startPostgres creates and starts a cluster with trust authentication.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	p := &pgServer{t: t, bindir: postgresBinDir(t), port: freePort(t)}
	dir, err := os.MkdirTemp("", "hookworker-faults-pg-")
	if err != nil {
		t.Fatalf("pg dir: %v", err)
	}
	p.dir = dir
	t.Cleanup(func() {
		_ = p.ctl("-m", "immediate", "stop") // may already be stopped
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user for initdb")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("chown %s: %v", dir, err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	return p
}

// postgresBinDir finds initdb and pg_ctl: the newest
// /usr/lib/postgresql/*/bin, else PATH.
func postgresBinDir(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	t.Skip("PostgreSQL's pg_ctl and initdb are not installed")
	return ""
}

// command returns tool of the PostgreSQL installation run as the right user.
func (p *pgServer) command(tool string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, p.asUser...), filepath.Join(p.bindir, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = baseEnv()
	return cmd
}

func (p *pgServer) ctl(args ...string) error {
	all := append([]string{"-D", filepath.Join(p.dir, "data")}, args...)
	out, err := p.command("pg_ctl", all...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %w\n%s", args, err, out)
	}
	return nil
}

// start starts the server and waits until it accepts connections.
func (p *pgServer) start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, p.dir)
	if err := p.ctl("-l", filepath.Join(p.dir, "pg.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "pg.log"))
		p.t.Fatalf("start PostgreSQL: %v\n%s", err, log)
	}
}

// stop shuts the server down (fast mode: open connections are closed).
func (p *pgServer) stop() {
	p.t.Helper()
	if err := p.ctl("-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		p.t.Fatalf("stop PostgreSQL: %v", err)
	}
}

// url is the DATABASE_URL of the cluster's postgres database.
func (p *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}
