// Package store runs the SQL the worker needs: the delivery target of an
// installation in one query, and the owners to tell of a disable (the
// disable's transaction itself is tasks.Disabler's).
package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/hookworker/hookworker/models"
)

// ErrNotFound means the installation is missing, not installed, or it or its
// app is soft-deleted.
var ErrNotFound = errors.New("not found")

// Target is everything a delivery needs to know about an installation.
type Target struct {
	InstallationID   int64
	InstallationUUID string
	OrganizationID   int64
	AppID            int64
	AppUUID          string
	AppSlug          string
	AppName          string
	AppStatus        int
	WebhookURL       string
	AppEvents        models.StringList
	ClientSecret     string
	// HookID is 0 when the installation has no service hook.
	HookID     int64
	HookEvents models.StringList
	// ProjectIDs limits the hook to these projects; empty means no limit.
	ProjectIDs []int64
}

// Store queries the database.
type Store struct {
	db *gorm.DB
}

// New returns a Store on db.
func New(db *gorm.DB) *Store { return &Store{db: db} }

// DB returns the underlying handle (for readiness checks).
func (s *Store) DB() *gorm.DB { return s.db }

type targetRow struct {
	InstallationID   int64
	InstallationUUID string
	OrganizationID   int64
	AppID            int64
	AppUUID          string
	AppSlug          string
	AppName          string
	AppStatus        int
	WebhookURL       *string
	AppEvents        models.StringList
	ClientSecret     string
	HookID           *int64
	HookEvents       models.StringList
	ProjectCount     int64
}

const targetSQL = `
SELECT i.id AS installation_id, i.uuid AS installation_uuid, i.organization_id,
       a.id AS app_id, a.uuid AS app_uuid, a.slug AS app_slug, a.name AS app_name,
       a.status AS app_status, a.webhook_url, a.events AS app_events, a.client_secret,
       h.id AS hook_id, h.events AS hook_events,
       (SELECT COUNT(*) FROM service_hook_projects p WHERE p.service_hook_id = h.id) AS project_count
FROM sentry_app_installations i
JOIN sentry_apps a ON a.id = i.sentry_app_id AND a.date_deleted IS NULL
LEFT JOIN service_hooks h ON h.organization_id = i.organization_id AND h.actor_id = i.id
WHERE i.id = ? AND i.status = ? AND i.date_deleted IS NULL
ORDER BY h.id
LIMIT 1`

// Target loads the installation, its app and its service hook in one query
// (plus one for project limits when the hook has any). ErrNotFound when the
// installation is not usable.
func (s *Store) Target(ctx context.Context, installationID int64) (*Target, error) {
	var rows []targetRow
	if err := s.db.WithContext(ctx).Raw(targetSQL, installationID, models.InstallationInstalled).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("load installation %d: %w", installationID, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	r := rows[0]
	t := &Target{
		InstallationID: r.InstallationID, InstallationUUID: r.InstallationUUID, OrganizationID: r.OrganizationID,
		AppID: r.AppID, AppUUID: r.AppUUID, AppSlug: r.AppSlug, AppName: r.AppName, AppStatus: r.AppStatus,
		AppEvents: r.AppEvents, ClientSecret: r.ClientSecret, HookEvents: r.HookEvents,
	}
	if r.WebhookURL != nil {
		t.WebhookURL = *r.WebhookURL
	}
	if r.HookID != nil {
		t.HookID = *r.HookID
	}
	if r.ProjectCount > 0 {
		if err := s.db.WithContext(ctx).Model(&models.ServiceHookProject{}).
			Where("service_hook_id = ?", t.HookID).Order("project_id").
			Pluck("project_id", &t.ProjectIDs).Error; err != nil {
			return nil, fmt.Errorf("load project limits of service hook %d: %w", t.HookID, err)
		}
	}
	return t, nil
}

// Owner is an organization owner to e-mail.
type Owner struct {
	UserID int64
	Email  string
}

// Owners lists the active owners of an organization with an e-mail
// address; invitations without a user are skipped.
func (s *Store) Owners(ctx context.Context, orgID int64) ([]Owner, error) {
	var owners []Owner
	err := s.db.WithContext(ctx).Raw(`
SELECT DISTINCT u.id AS user_id, u.email
FROM organization_members m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = ? AND m.role = 'owner' AND u.is_active = ? AND u.email <> ''
ORDER BY u.id`, orgID, true).Scan(&owners).Error
	if err != nil {
		return nil, fmt.Errorf("load owners of organization %d: %w", orgID, err)
	}
	return owners, nil
}

// OrganizationSlug returns the slug of an organization.
func (s *Store) OrganizationSlug(ctx context.Context, orgID int64) (string, error) {
	var org models.Organization
	if err := s.db.WithContext(ctx).Select("slug").First(&org, orgID).Error; err != nil {
		return "", fmt.Errorf("load organization %d: %w", orgID, err)
	}
	return org.Slug, nil
}
