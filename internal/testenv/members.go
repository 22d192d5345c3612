package testenv

import (
	"fmt"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/hookworker/hookworker/models"
)

// Recipient is an owner who must receive an organization e-mail.
type Recipient struct {
	UserID int64
	Email  string
}

// AddMembers adds to organization orgID, beside its seeded owner, a second
// active owner (whose member row holds a stale address: the user's is used)
// and everyone who must not be e-mailed: an inactive owner, an owner user
// with an empty address, an invited owner without user, an active manager,
// admin and member, and an owner of another organization. It returns the two
// owners sorted by user id, and the addresses that must get nothing.
func AddMembers(t testing.TB, db *gorm.DB, orgID int64) (owners []Recipient, others []string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testenv: add members: %v", err)
		}
	}
	var seeded models.OrganizationMember
	must(db.Where("organization_id = ? AND role = 'owner'", orgID).First(&seeded).Error)
	var u models.User
	must(db.First(&u, *seeded.UserID).Error)
	owners = append(owners, Recipient{UserID: u.ID, Email: u.Email})

	add := func(email string, active bool, role string, org int64, memberEmail string) int64 {
		u := models.User{Email: email, Name: role, IsActive: active}
		must(db.Create(&u).Error)
		must(db.Create(&models.OrganizationMember{OrganizationID: org, UserID: &u.ID, Email: memberEmail, Role: role}).Error)
		return u.ID
	}
	tag := fmt.Sprintf("org%d", orgID)
	second := "second-owner-" + tag + "@example.com"
	owners = append(owners, Recipient{UserID: add(second, true, "owner", orgID, "stale-"+tag+"@example.com"), Email: second})
	others = append(others, "stale-"+tag+"@example.com")
	for _, p := range []struct {
		email  string
		active bool
		role   string
	}{
		{"inactive-owner-" + tag + "@example.com", false, "owner"},
		{"manager-" + tag + "@example.com", true, "manager"},
		{"admin-" + tag + "@example.com", true, "admin"},
		{"member-" + tag + "@example.com", true, "member"},
	} {
		add(p.email, p.active, p.role, orgID, p.email)
		others = append(others, p.email)
	}
	add("", true, "owner", orgID, "no-email-owner-"+tag+"@example.com")
	others = append(others, "no-email-owner-"+tag+"@example.com")
	must(db.Create(&models.OrganizationMember{OrganizationID: orgID, Email: "invitee-" + tag + "@example.com", Role: "owner"}).Error)
	others = append(others, "invitee-"+tag+"@example.com")
	org := models.Organization{Slug: "other-" + tag, Name: "Other"}
	must(db.Create(&org).Error)
	add("foreign-owner-"+tag+"@example.com", true, "owner", org.ID, "foreign-owner-"+tag+"@example.com")
	others = append(others, "foreign-owner-"+tag+"@example.com")

	slices.SortFunc(owners, func(a, b Recipient) int { return int(a.UserID - b.UserID) })
	return owners, others
}
