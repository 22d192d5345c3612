package models

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// SeedOptions describe the installation `worker seed` creates.
type SeedOptions struct {
	WebhookURL string
	Name       string // empty → "Hookworker Test App"
	Status     int    // AppInternal, AppPublished or AppUnpublished
	Events     []string
	OwnerEmail string // empty → owner-<random>@example.com
	ProjectIDs []int64
}

// SeedResult is what `worker seed` prints, as one JSON object.
type SeedResult struct {
	OrganizationID   int64  `json:"organization_id"`
	OrganizationSlug string `json:"organization_slug"`
	SentryAppID      int64  `json:"sentry_app_id"`
	SentryAppUUID    string `json:"sentry_app_uuid"`
	SentryAppSlug    string `json:"sentry_app_slug"`
	InstallationID   int64  `json:"installation_id"`
	InstallationUUID string `json:"installation_uuid"`
	ServiceHookID    int64  `json:"service_hook_id"`
	ClientSecret     string `json:"client_secret"`
}

var slugUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Seed creates an organization, an owner user and membership, an app with a
// fresh client secret, an installed installation and its service hook, in
// one transaction. It is how people and tests make a working installation.
func Seed(db *gorm.DB, o SeedOptions) (SeedResult, error) {
	if o.WebhookURL == "" {
		return SeedResult{}, fmt.Errorf("seed: a webhook URL is required")
	}
	if o.Name == "" {
		o.Name = "Hookworker Test App"
	}
	suffix := randomHex(4)
	if o.OwnerEmail == "" {
		o.OwnerEmail = "owner-" + suffix + "@example.com"
	}
	base := strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(o.Name), "-"), "-")
	if base == "" {
		base = "app"
	}
	var res SeedResult
	err := db.Transaction(func(tx *gorm.DB) error {
		org := Organization{Slug: "org-" + suffix, Name: "Organization " + suffix}
		if err := tx.Create(&org).Error; err != nil {
			return fmt.Errorf("create organization: %w", err)
		}
		user := User{Email: o.OwnerEmail, Name: "Owner", IsActive: true}
		if err := tx.Create(&user).Error; err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		member := OrganizationMember{OrganizationID: org.ID, UserID: &user.ID, Email: o.OwnerEmail, Role: "owner", UserIsActive: true}
		if err := tx.Create(&member).Error; err != nil {
			return fmt.Errorf("create membership: %w", err)
		}
		url := o.WebhookURL
		app := SentryApp{
			UUID: uuid.NewString(), Slug: base + "-" + suffix, Name: o.Name, Status: o.Status,
			WebhookURL: &url, Events: StringList(o.Events), ClientSecret: randomHex(32), OwnerID: org.ID,
		}
		if err := tx.Create(&app).Error; err != nil {
			return fmt.Errorf("create app: %w", err)
		}
		inst := SentryAppInstallation{UUID: uuid.NewString(), SentryAppID: app.ID, OrganizationID: org.ID, Status: InstallationInstalled}
		if err := tx.Create(&inst).Error; err != nil {
			return fmt.Errorf("create installation: %w", err)
		}
		hook := ServiceHook{
			GUID: uuid.NewString(), ActorID: inst.ID, InstallationID: &inst.ID, OrganizationID: org.ID,
			URL: o.WebhookURL, Events: StringList(o.Events),
		}
		if err := tx.Create(&hook).Error; err != nil {
			return fmt.Errorf("create service hook: %w", err)
		}
		for _, p := range o.ProjectIDs {
			if err := tx.Create(&ServiceHookProject{ServiceHookID: hook.ID, ProjectID: p}).Error; err != nil {
				return fmt.Errorf("create service hook project %d: %w", p, err)
			}
		}
		res = SeedResult{
			OrganizationID: org.ID, OrganizationSlug: org.Slug,
			SentryAppID: app.ID, SentryAppUUID: app.UUID, SentryAppSlug: app.Slug,
			InstallationID: inst.ID, InstallationUUID: inst.UUID, ServiceHookID: hook.ID,
			ClientSecret: app.ClientSecret,
		}
		return nil
	})
	if err != nil {
		return SeedResult{}, fmt.Errorf("seed: %w", err)
	}
	return res, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
