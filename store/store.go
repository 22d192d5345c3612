// Package store runs the SQL the worker needs: the delivery target of an
// installation in one query, and the owners to tell of a disable (the
// disable's transaction itself is tasks.Disabler's).
package store

import (
	"context"
	"database/sql/driver"
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

// targetSelect, targetFrom and targetWhere are the one definition of a
// target's columns, joins and filters; targetSQL and targetsSQL only choose
// how ids are matched and how the service hook (the lowest h.id) is picked.
const (
	targetSelect = `i.id AS installation_id, i.uuid AS installation_uuid, i.organization_id,
       a.id AS app_id, a.uuid AS app_uuid, a.slug AS app_slug, a.name AS app_name,
       a.status AS app_status, a.webhook_url, a.events AS app_events, a.client_secret,
       h.id AS hook_id, h.events AS hook_events,
       (SELECT COUNT(*) FROM service_hook_projects p WHERE p.service_hook_id = h.id) AS project_count`
	targetFrom = `
FROM sentry_app_installations i
JOIN sentry_apps a ON a.id = i.sentry_app_id AND a.date_deleted IS NULL
LEFT JOIN service_hooks h ON h.organization_id = i.organization_id AND h.actor_id = i.id`
	targetWhere = ` AND i.status = ? AND i.date_deleted IS NULL`

	// targetSQL loads one installation: (id, status).
	targetSQL = `SELECT ` + targetSelect + targetFrom + `
WHERE i.id = ?` + targetWhere + `
ORDER BY h.id
LIMIT 1`

	// targetsSQL loads many installations, one row each: (ids, status).
	targetsSQL = `SELECT DISTINCT ON (i.id) ` + targetSelect + targetFrom + `
WHERE i.id = ANY(?)` + targetWhere + `
ORDER BY i.id, h.id`
)

// int64Array passes ids as one bigint[] parameter: gorm would expand a
// bare slice into a list of parameters, and pgx encodes []int64 itself.
type int64Array []int64

// Value implements driver.Valuer.
func (a int64Array) Value() (driver.Value, error) { return []int64(a), nil }

// target turns a row into a Target (without its project limits).
func (r *targetRow) target() *Target {
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
	return t
}

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
	t := rows[0].target()
	if rows[0].ProjectCount > 0 {
		if err := s.loadProjects(ctx, map[int64]*Target{t.HookID: t}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Targets loads many installations as Target does each, in one query (plus
// one for the project limits of all the hooks that have any). An id whose
// installation is not usable is absent from the map.
func (s *Store) Targets(ctx context.Context, ids []int64) (map[int64]*Target, error) {
	targets := make(map[int64]*Target, len(ids))
	if len(ids) == 0 {
		return targets, nil
	}
	if s.db.Dialector.Name() != "postgres" {
		// The embedded SQLite database knows neither DISTINCT ON nor
		// arrays; it serves one local user, so one query per id will do.
		for _, id := range ids {
			t, err := s.Target(ctx, id)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return nil, err
			default:
				targets[id] = t
			}
		}
		return targets, nil
	}
	var rows []targetRow
	if err := s.db.WithContext(ctx).Raw(targetsSQL, int64Array(ids), models.InstallationInstalled).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("load %d installations: %w", len(ids), err)
	}
	limited := make(map[int64]*Target) // hook id → target, for hooks with project limits
	for i := range rows {
		t := rows[i].target()
		targets[t.InstallationID] = t
		if rows[i].ProjectCount > 0 {
			limited[t.HookID] = t
		}
	}
	if len(limited) > 0 {
		if err := s.loadProjects(ctx, limited); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

// loadProjects fills the ProjectIDs of the targets, keyed by their hook id,
// in one query, ordered by project id.
func (s *Store) loadProjects(ctx context.Context, byHook map[int64]*Target) error {
	hookIDs := make([]int64, 0, len(byHook))
	for id := range byHook {
		hookIDs = append(hookIDs, id)
	}
	var rows []models.ServiceHookProject
	if err := s.db.WithContext(ctx).Model(&models.ServiceHookProject{}).Select("service_hook_id", "project_id").
		Where("service_hook_id = ANY(?)", int64Array(hookIDs)).Order("service_hook_id, project_id").
		Find(&rows).Error; err != nil {
		if len(hookIDs) == 1 {
			return fmt.Errorf("load project limits of service hook %d: %w", hookIDs[0], err)
		}
		return fmt.Errorf("load project limits of %d service hooks: %w", len(hookIDs), err)
	}
	for _, r := range rows {
		t := byHook[r.ServiceHookID]
		t.ProjectIDs = append(t.ProjectIDs, r.ProjectID)
	}
	return nil
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
