package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/models"
)

// DefaultDatabaseURL is the PostgreSQL server used when neither
// --database-url, DATABASE_URL nor TEST_DATABASE_URL names one.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// benchDatabase is a PostgreSQL database created for one benchmark run and
// dropped at its end. A database of its own (not a schema) makes
// pg_stat_database's transaction counter count only the benchmark's work.
type benchDatabase struct {
	name  string
	url   string // connects to the bench database
	admin *pgx.Conn
}

// createDatabase connects to the server of baseURL and creates a fresh
// database hookworker_bench_<random> on it.
func createDatabase(ctx context.Context, baseURL string) (*benchDatabase, error) {
	admin, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", config.Redact(baseURL), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "hookworker_bench_" + hex.EncodeToString(b)
	// CREATE DATABASE copies template1 and fails while someone else is
	// connected to it; that is brief, so try a few times.
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
		if err == nil || attempt == 4 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("create database %s (the benchmark needs CREATEDB): %w", name, err)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return &benchDatabase{name: name, url: u.String(), admin: admin}, nil
}

// drop removes the database, disconnecting anyone still on it.
func (d *benchDatabase) drop(ctx context.Context) error {
	defer d.admin.Close(ctx)
	if _, err := d.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

// sessions returns how many sessions are connected to the bench database.
func (d *benchDatabase) sessions(ctx context.Context) (int64, error) {
	var n int64
	if err := d.admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", d.name).Scan(&n); err != nil {
		return 0, fmt.Errorf("pg_stat_activity: %w", err)
	}
	return n, nil
}

// backendCPU returns the CPU time of each PostgreSQL backend serving the
// bench database, by process id (the server runs on this machine). A
// backend whose /proc entry cannot be read is skipped.
func (d *benchDatabase) backendCPU(ctx context.Context) (map[int]time.Duration, error) {
	rows, err := d.admin.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", d.name)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_activity: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("pg_stat_activity: %w", err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if cpu, err := processCPU(int(pid)); err == nil {
			out[int(pid)] = cpu
		}
	}
	return out, nil
}

// transactions returns the committed and rolled-back transactions of the
// bench database once no session is connected to it and the counter has
// settled. A live backend may hold its statistics back for up to 10 s, but
// one that exits publishes them, shortly after it leaves
// pg_stat_activity; so deltas are taken between moments when nobody is
// connected. Every autocommit statement is one transaction, so a delta
// bounds the statements run from above.
func (d *benchDatabase) transactions(ctx context.Context) (int64, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		sessions, err := d.sessions(ctx)
		if err != nil {
			return 0, err
		}
		if sessions == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("database %s still has %d sessions", d.name, sessions)
		}
		time.Sleep(20 * time.Millisecond)
	}
	const quiet = 300 * time.Millisecond
	var last int64 = -1
	var since time.Time
	for {
		var n int64
		err := d.admin.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", d.name).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("pg_stat_database: %w", err)
		}
		now := time.Now()
		if n != last {
			last, since = n, now
		} else if now.Sub(since) >= quiet {
			return n, nil
		}
		if now.After(deadline) {
			return 0, fmt.Errorf("transactions of database %s still moving after 15s", d.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// installations are seeded installations, each pointing at one receiver.
type installations struct {
	ids []int64
	// healthy[i] tells whether ids[i] points at the answering receiver.
	healthy []bool
}

// healthyCount returns how many of n tasks spread round-robin over the
// installations go to answering receivers.
func (s installations) healthyCount(n int) int {
	c := 0
	for i := range n {
		if s.healthy[i%len(s.ids)] {
			c++
		}
	}
	return c
}

// seedInstallations migrates the bench database and seeds k internal
// installations subscribed to issue.created: dead of them (spread evenly)
// point at deadURL, the rest at okURL. With deadPublished the dead ones
// are published apps instead, so the worker's metrics tell them apart
// (their integration label is their slug; the healthy ones' "internal").
func seedInstallations(dbURL string, k, dead int, okURL, deadURL string, deadPublished bool) (installations, error) {
	db, err := models.Open(dbURL)
	if err != nil {
		return installations{}, err
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := models.Migrate(db); err != nil {
		return installations{}, err
	}
	var out installations
	for i := range k {
		u, ok, status := okURL, true, models.AppInternal
		if isDead(i, k, dead) {
			u, ok = deadURL, false
			if deadPublished {
				status = models.AppPublished
			}
		}
		res, err := models.Seed(db, models.SeedOptions{
			WebhookURL: u, Name: fmt.Sprintf("Bench App %d", i), Status: status,
			Events: []string{"issue.created", "issue.resolved", "error.created", "comment.created"},
		})
		if err != nil {
			return installations{}, err
		}
		out.ids = append(out.ids, res.InstallationID)
		out.healthy = append(out.healthy, ok)
	}
	return out, nil
}

// isDead tells whether installation i of k is one of the dead ones: they
// are spread evenly (every k/dead-th) so that round-robin tasks reach them
// evenly over the run.
func isDead(i, k, dead int) bool {
	if dead <= 0 {
		return false
	}
	step := max(1, k/dead)
	return i%step == 0 && i/step < dead
}
