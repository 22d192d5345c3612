package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DatabaseBaseURL returns TEST_DATABASE_URL, the PostgreSQL server the tests
// use ("" when unset: the tests then fail with a message rather than guess).
// The tests only create databases of their own on it (hwtest_…) and drop
// them; the database the URL names is used for those statements only.
func DatabaseBaseURL() string { return os.Getenv("TEST_DATABASE_URL") }

// Postgres is an empty PostgreSQL database of one test.
type Postgres struct {
	// URL connects to the test's database, for child processes and for
	// code under test that opens its own connection.
	URL string
	// DB is a GORM handle on that database.
	DB *gorm.DB
	// Name is the database's name (hwtest_ and random hex).
	Name string
}

// NewPostgres creates a fresh database for t on the TEST_DATABASE_URL server
// and drops it at cleanup (disconnecting whoever is still on it). The role
// in the URL needs CREATEDB.
func NewPostgres(t testing.TB) *Postgres {
	t.Helper()
	base := DatabaseBaseURL()
	if base == "" {
		t.Fatalf("testenv: TEST_DATABASE_URL is not set: run the tests with scripts/test.sh (make test), which starts a throwaway PostgreSQL, " +
			"or set TEST_DATABASE_URL to a server where the tests may create and drop databases of their own")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	admin.SetMaxOpenConns(1)
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("testenv: PostgreSQL does not answer (%v); check TEST_DATABASE_URL, or unset it to let scripts/test.sh start a throwaway PostgreSQL", err)
	}
	name := "hwtest_" + randomHex(6)
	for attempt := 0; ; attempt++ {
		// CREATE DATABASE copies template1 and fails while another
		// session is connected to it; that is brief, so try again.
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
		if err == nil || attempt == 20 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("testenv: create database %s (the role in TEST_DATABASE_URL needs CREATEDB): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	dsn := u.String()
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("testenv: open database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return &Postgres{URL: dsn, DB: db, Name: name}
}
