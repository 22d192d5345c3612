package testenv

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DefaultDatabaseURL is used when TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DatabaseBaseURL returns the PostgreSQL server the tests use.
func DatabaseBaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// Postgres is an empty PostgreSQL schema of one test.
type Postgres struct {
	// URL connects with search_path set to the test's schema, for child
	// processes and for code under test that opens its own connection.
	URL string
	// DB is a GORM handle on that schema.
	DB *gorm.DB
	// Schema is the schema's name.
	Schema string
}

// NewPostgres creates a fresh schema for t and drops it at cleanup.
func NewPostgres(t testing.TB) *Postgres {
	t.Helper()
	base := DatabaseBaseURL()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Fatalf("testenv: PostgreSQL does not answer (%v); run the tests with scripts/test.sh, which starts one", err)
	}
	schema := "hwtest_" + randomHex(6)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()

	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("testenv: open schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
		if _, err := admin.Exec(fmt.Sprintf("DROP SCHEMA %s CASCADE", schema)); err != nil {
			t.Logf("testenv: drop schema %s: %v", schema, err)
		}
	})
	return &Postgres{URL: dsn, DB: db, Schema: schema}
}
