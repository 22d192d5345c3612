package models

import "time"

// AuditInternalIntegrationEnabled is audit_log_entries.event for an
// operator's re-enable of an app the breaker disabled. Sentry has no such
// event; the id is hookworker's own, far above every id Sentry's audit log
// uses (they stop below 2000), so the two can never be confused.
const AuditInternalIntegrationEnabled = 100131

// AppDisable records one disable of an app by the breaker: the events the
// app had, so that a re-enable restores them, and when it was re-enabled.
// It is written in the disable's transaction; the app's own row keeps
// only an empty events list.
type AppDisable struct {
	ID              int64      `gorm:"primaryKey"`
	SentryAppID     int64      `gorm:"not null;index"`
	OrganizationID  int64      `gorm:"not null"`
	AuditLogEntryID int64      `gorm:"not null"`
	Events          StringList `gorm:"not null;default:'[]'"`
	DisabledAt      time.Time  `gorm:"not null"`
	// EnabledAt is set by the re-enable that ended this disable.
	EnabledAt *time.Time
	// EnableAuditLogEntryID is that re-enable's audit entry.
	EnableAuditLogEntryID *int64
}

// TableName keeps hookworker's own tables apart from the platform's.
func (AppDisable) TableName() string { return "hookworker_app_disables" }

// EmailOutbox is an e-mail committed in the same transaction as the change
// that calls for it, waiting to be enqueued as a send_email task: a process
// that dies after the commit cannot lose it, since whichever worker sweeps
// the outbox next enqueues it under TaskID (deduplicated by asynq).
type EmailOutbox struct {
	ID int64 `gorm:"primaryKey"`
	// TaskID is the send_email task's id; unique, so one e-mail per row.
	TaskID string `gorm:"column:task_id;not null;uniqueIndex"`
	// Message is the mail.Message, as JSON.
	Message   string    `gorm:"type:text;not null"`
	CreatedAt time.Time `gorm:"not null"`
	// EnqueuedAt is set once the task is in Redis; NULL means pending.
	EnqueuedAt *time.Time `gorm:"index"`
}

// TableName keeps hookworker's own tables apart from the platform's.
func (EmailOutbox) TableName() string { return "hookworker_email_outbox" }
