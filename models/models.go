// Package models holds the tables hookworker reads and writes, as GORM
// models that work on PostgreSQL (production) and SQLite (embedded mode).
// The platform's web app owns most rows; the worker writes only the disable
// and re-enable (sentry_apps.events), audit_log_entries, and its own
// hookworker_* tables.
package models

import "time"

// Sentry app statuses (sentry_apps.status).
const (
	AppUnpublished = 0
	AppPublished   = 1
	AppInternal    = 2
)

// Installation statuses (sentry_app_installations.status).
const (
	InstallationPending   = 0
	InstallationInstalled = 1
)

// AuditInternalIntegrationDisabled is audit_log_entries.event for Sentry's
// INTERNAL_INTEGRATION_DISABLED.
const AuditInternalIntegrationDisabled = 131

// Organization is a customer organization.
type Organization struct {
	ID     int64  `gorm:"primaryKey"`
	Slug   string `gorm:"uniqueIndex;not null"`
	Name   string `gorm:"not null;default:''"`
	Status int    `gorm:"not null;default:0"`
}

// User is a person who can be an organization member.
type User struct {
	ID       int64  `gorm:"primaryKey"`
	Email    string `gorm:"not null;default:''"`
	Name     string `gorm:"not null;default:''"`
	IsActive bool   `gorm:"not null"`
}

// OrganizationMember links a user (or a pending invite, without user) to an
// organization with a role: member, admin, manager or owner.
type OrganizationMember struct {
	ID             int64  `gorm:"primaryKey"`
	OrganizationID int64  `gorm:"not null;index"`
	UserID         *int64 `gorm:"index"`
	Email          string `gorm:"not null;default:''"`
	Role           string `gorm:"not null;default:'member'"`
	UserIsActive   bool   `gorm:"not null;default:true"`
}

// SentryApp is an integration (app) that receives webhooks. An empty Events
// list means the app is disabled.
type SentryApp struct {
	ID           int64      `gorm:"primaryKey"`
	UUID         string     `gorm:"column:uuid;not null;default:'';index"`
	Slug         string     `gorm:"uniqueIndex;not null"`
	Name         string     `gorm:"not null;default:''"`
	Status       int        `gorm:"not null;default:0"`
	WebhookURL   *string    `gorm:"column:webhook_url"`
	Events       StringList `gorm:"not null;default:'[]'"`
	ClientSecret string     `gorm:"not null;default:''"`
	OwnerID      int64      `gorm:"not null;index"`
	DateAdded    time.Time  `gorm:"not null;default:CURRENT_TIMESTAMP"`
	DateUpdated  time.Time  `gorm:"not null;default:CURRENT_TIMESTAMP"`
	DateDeleted  *time.Time
}

// SentryAppInstallation is an app installed in an organization.
type SentryAppInstallation struct {
	ID             int64     `gorm:"primaryKey"`
	UUID           string    `gorm:"column:uuid;not null;default:''"`
	SentryAppID    int64     `gorm:"not null;index"`
	OrganizationID int64     `gorm:"not null;index"`
	Status         int       `gorm:"not null;default:0"`
	DateAdded      time.Time `gorm:"not null;default:CURRENT_TIMESTAMP"`
	DateDeleted    *time.Time
}

// ServiceHook is the subscription of an installation: which events it gets.
type ServiceHook struct {
	ID             int64      `gorm:"primaryKey"`
	GUID           string     `gorm:"column:guid;not null;default:''"`
	ActorID        int64      `gorm:"not null;index:idx_service_hooks_org_actor,priority:2"`
	InstallationID *int64     `gorm:"index"`
	OrganizationID int64      `gorm:"not null;index:idx_service_hooks_org_actor,priority:1"`
	ProjectID      *int64     `gorm:"index"`
	URL            string     `gorm:"column:url;not null;default:''"`
	Events         StringList `gorm:"not null;default:'[]'"`
	Status         int        `gorm:"not null;default:0"`
	DateAdded      time.Time  `gorm:"not null;default:CURRENT_TIMESTAMP"`
}

// ServiceHookProject limits a service hook to a project; a hook without rows
// is not limited.
type ServiceHookProject struct {
	ID            int64 `gorm:"primaryKey"`
	ServiceHookID int64 `gorm:"not null;uniqueIndex:idx_service_hook_project"`
	ProjectID     int64 `gorm:"not null;uniqueIndex:idx_service_hook_project"`
}

// AuditLogEntry is one entry of an organization's audit log.
type AuditLogEntry struct {
	ID             int64      `gorm:"primaryKey"`
	OrganizationID int64      `gorm:"not null;index"`
	ActorLabel     string     `gorm:"not null;default:''"`
	ActorID        *int64     `gorm:"index"`
	TargetObject   int64      `gorm:"not null;default:0"`
	Event          int        `gorm:"not null"`
	Data           JSONObject `gorm:"not null;default:'{}'"`
	IPAddress      *string    `gorm:"column:ip_address"`
	Datetime       time.Time  `gorm:"not null;default:CURRENT_TIMESTAMP"`
}

// All lists every model, in an order that migrations can follow.
func All() []any {
	return []any{
		&Organization{}, &User{}, &OrganizationMember{}, &SentryApp{},
		&SentryAppInstallation{}, &ServiceHook{}, &ServiceHookProject{}, &AuditLogEntry{},
		&AppDisable{}, &EmailOutbox{},
	}
}
