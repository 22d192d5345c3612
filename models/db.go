package models

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// EmbeddedDatabaseFile is the SQLite file used when DATABASE_URL is unset.
const EmbeddedDatabaseFile = "hookworker.db"

// Open connects to PostgreSQL when databaseURL is set, else to the embedded
// SQLite file in the working directory (WAL and a busy timeout, so `seed`
// can write while `worker` runs). SQL is logged only when slow, without its
// parameters, to stderr.
func Open(databaseURL string) (*gorm.DB, error) {
	cfg := &gorm.Config{
		Logger: quietErrors{logger.New(log.New(os.Stderr, "gorm: ", log.LstdFlags), logger.Config{
			SlowThreshold:             500 * time.Millisecond,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			ParameterizedQueries:      true,
		})},
		PrepareStmt: true,
	}
	if databaseURL == "" {
		dsn := EmbeddedDatabaseFile + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
		db, err := gorm.Open(sqlite.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open embedded database %s: %w", EmbeddedDatabaseFile, err)
		}
		return db, nil
	}
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return nil, fmt.Errorf("open database: DATABASE_URL must start with postgres://")
	}
	db, err := gorm.Open(postgres.Open(databaseURL), cfg)
	if err != nil {
		// pgx errors do not include the password; keep only the cause.
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(32)
	sqlDB.SetMaxIdleConns(32)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Migrate creates or updates every table and index. It is idempotent.
func Migrate(db *gorm.DB) error {
	if err := db.AutoMigrate(All()...); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// quietErrors is gorm's logger without its lines for failures: every failed
// statement, and a failed open, comes back to the caller as an error, which
// reports it once with context; gorm's own copy (with a source path) would
// print it twice. Slow statements are still logged.
type quietErrors struct{ logger.Interface }

// LogMode keeps the wrapper around the re-levelled logger.
func (q quietErrors) LogMode(l logger.LogLevel) logger.Interface {
	return quietErrors{q.Interface.LogMode(l)}
}

// Error drops gorm's own error line ("failed to initialize database").
func (quietErrors) Error(context.Context, string, ...any) {}

// Trace logs a slow statement, never a failed one.
func (q quietErrors) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if err != nil {
		return
	}
	q.Interface.Trace(ctx, begin, fc, nil)
}
