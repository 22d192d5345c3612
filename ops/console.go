package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/config"
	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
)

// Integrations changes an integration's state on an operator's request.
// The console and `worker apps` call it; package lifecycle implements it
// (re-enabling restores events, clears every organization's breaker keys,
// writes an audit entry and tells every worker's cache). Errors wrap
// lifecycle.ErrNotFound and lifecycle.ErrAlreadyEnabled where they apply.
type Integrations interface {
	// Enable re-enables a disabled app. nil events restores the events
	// recorded when it was disabled.
	Enable(ctx context.Context, slug string, events []string) error
	// ClearBreaker deletes the breaker counters of every organization that
	// has the app installed.
	ClearBreaker(ctx context.Context, slug string) error
}

// ErrUnknownApp is returned by the console's views for a slug that names no
// app (or a deleted one).
var ErrUnknownApp = lifecycle.ErrNotFound

// BadRequestError is a request the console cannot answer as asked (a bad
// filter): HTTP 400 with Detail, as Sentry's {"detail": …}.
type BadRequestError struct{ Detail string }

// Error returns the detail.
func (e *BadRequestError) Error() string { return e.Detail }

// Breaker hash fields, as package breaker writes them (breaker/rules.go).
const (
	fieldSuccess = "success_count"
	fieldError   = "error_count"
	fieldTimeout = "timeout_count"
)

// chartDays is the window the console shows: the breaker's 7 UTC days.
const chartDays = 7

// Paging of /apps/: PerPageDefault apps a page unless ?perPage= says
// otherwise, at most PerPageMax.
const (
	PerPageDefault = 50
	PerPageMax     = 500
)

// ConsoleConfig holds a Console's dependencies.
type ConsoleConfig struct {
	// DB holds the apps, installations, organizations and the audit log.
	DB *gorm.DB
	// Redis holds the breaker counters and the request log.
	Redis redis.Cmdable
	// Integrations performs the actions; nil leaves the console read-only.
	Integrations Integrations
	// TimeoutThreshold is BROKEN_TIMEOUT_THRESHOLD, for "broken now".
	// Defaults to breaker.DefaultTimeoutThreshold.
	TimeoutThreshold int64
	// BaseURL is BASE_URL, the platform's web app, prefix of errorUrl.
	BaseURL string
	// Now is the clock that picks the UTC days. Defaults to time.Now.
	Now func() time.Time
	// SplitBySlot reads the breaker counters with one HMGET a key instead
	// of one script over many keys, which Redis Cluster refuses (the keys
	// are in different hash slots). NewConsole sets it for a
	// *redis.ClusterClient; set it for a cluster client it cannot recognise.
	SplitBySlot bool
}

// Console reads what the integration console shows: apps, their breaker
// counters per UTC day, the request log and the audit history. Its view
// methods return plain structs that the pages render as HTML and the API
// encodes as JSON, so the two always agree. It is safe for concurrent use.
type Console struct {
	c ConsoleConfig
}

// NewConsole returns a Console; DB and Redis are required.
func NewConsole(c ConsoleConfig) (*Console, error) {
	if c.DB == nil || c.Redis == nil {
		return nil, errors.New("ops: the console needs a database and a Redis client")
	}
	c.TimeoutThreshold = cmp.Or(c.TimeoutThreshold, breaker.DefaultTimeoutThreshold)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if _, ok := c.Redis.(*redis.ClusterClient); ok {
		c.SplitBySlot = true
	}
	return &Console{c: c}, nil
}

// Integrations returns the actions' implementation, or nil.
func (c *Console) Integrations() Integrations { return c.c.Integrations }

// DayCount is one UTC day's breaker counters.
type DayCount struct {
	Date    string `json:"date"`
	Success int64  `json:"success"`
	Error   int64  `json:"error"`
	Timeout int64  `json:"timeout"`
}

// Failure is a failed request of the request log, in short.
type Failure struct {
	ResponseCode int    `json:"responseCode"`
	Date         string `json:"date"`
	EventType    string `json:"eventType"`
}

// AppSummary is one app as /apps/ lists it.
type AppSummary struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Status is internal, published or unpublished.
	Status  string `json:"status"`
	Enabled bool   `json:"enabled"`
	// DisabledSince is the time of the last disable in the audit log, or
	// the app's last update when the log has none; nil while enabled.
	DisabledSince *time.Time `json:"disabledSince"`
	Events        []string   `json:"events"`
	Installations int        `json:"installations"`
	// Counted is whether the breaker counts the app's deliveries (internal
	// apps only); Days are zero for the others.
	Counted bool `json:"counted"`
	// Days are the last 7 UTC days, oldest first, summed over organizations.
	Days []DayCount `json:"days"`
	// BrokenNow is whether the breaker's rule holds today for one of the
	// app's organizations.
	BrokenNow   bool     `json:"brokenNow"`
	LastFailure *Failure `json:"lastFailure"`
}

// Failing reports whether the app had an error or a timeout in the window.
func (a AppSummary) Failing() bool {
	for _, d := range a.Days {
		if d.Error > 0 || d.Timeout > 0 {
			return true
		}
	}
	return false
}

// AppsPage is /apps/ and GET /api/apps: one page of apps, disabled ones
// first, then those broken now, then those with errors or timeouts in the
// window, then the rest, each group by name.
type AppsPage struct {
	Apps    []AppSummary `json:"apps"`
	Page    int          `json:"page"`
	PerPage int          `json:"perPage"`
	Pages   int          `json:"pages"`
	Total   int          `json:"total"`
	// Days are the window's UTC days, oldest first.
	Days []string `json:"days"`
}

// OrgRef names an organization.
type OrgRef struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// OrgState is an app in one organization that has it installed.
type OrgState struct {
	ID        int64      `json:"id"`
	Slug      string     `json:"slug"`
	Name      string     `json:"name"`
	Days      []DayCount `json:"days"`
	BrokenNow bool       `json:"brokenNow"`
}

// AuditEvent is one entry of the app's disable/enable history.
type AuditEvent struct {
	ID           int64          `json:"id"`
	Date         time.Time      `json:"date"`
	Event        int            `json:"event"`
	Label        string         `json:"label"`
	Organization string         `json:"organization"`
	Actor        string         `json:"actor"`
	Data         map[string]any `json:"data"`
}

// AppDetail is /apps/{slug}/ and GET /api/apps/{slug}.
type AppDetail struct {
	AppSummary
	WebhookURL    string       `json:"webhookUrl"`
	Organizations []OrgState   `json:"organizations"`
	Filter        RequestQuery `json:"filter"`
	Requests      []Request    `json:"requests"`
	History       []AuditEvent `json:"history"`
	// EventTypes are the events the request-log filter offers.
	EventTypes []string `json:"eventTypes"`
}

// appRow is what the console reads of sentry_apps.
type appRow struct {
	ID          int64
	Slug        string
	Name        string
	Status      int
	Events      models.StringList
	OwnerID     int64
	WebhookURL  *string
	DateUpdated time.Time
}

func statusName(s int) string {
	switch s {
	case models.AppInternal:
		return "internal"
	case models.AppPublished:
		return "published"
	case models.AppUnpublished:
		return "unpublished"
	default:
		return "status " + strconv.Itoa(s)
	}
}

// days returns the window's UTC days, oldest first.
func (c *Console) days() []time.Time {
	now := c.c.Now().UTC()
	out := make([]time.Time, chartDays)
	for i := range out {
		out[i] = now.AddDate(0, 0, i-(chartDays-1))
	}
	return out
}

// pair is one app in one organization.
type pair struct{ app, org int64 }

// readDaysScript reads the three counters of every key it is given and
// returns them flat (success, error, timeout per key; nil when missing):
// one command and one reply instead of one HMGET each, which is what makes
// /apps/ fast with thousands of apps.
var readDaysScript = redis.NewScript(`
local out = {}
for _, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, '` + fieldSuccess + `', '` + fieldError + `', '` + fieldTimeout + `')
  out[#out + 1] = v[1]
  out[#out + 1] = v[2]
  out[#out + 1] = v[3]
end
return out
`)

// readDays reads the breaker counters of pairs for the window's days;
// result[i][d] is pairs[i] on days[d]. Keys go to Redis in chunks, so one
// script call stays short; on Redis Cluster each chunk is a pipeline of
// HMGETs instead, which the client splits by node (see readDaysPerKey).
func (c *Console) readDays(ctx context.Context, pairs []pair, days []time.Time) ([][]DayCount, error) {
	out := make([][]DayCount, len(pairs))
	dates := make([]string, len(days))
	for i, d := range days {
		dates[i] = d.Format(time.DateOnly)
	}
	const chunk = 1000 // pairs per call: 7,000 keys
	for start := 0; start < len(pairs); start += chunk {
		end := min(start+chunk, len(pairs))
		keys := make([]string, 0, (end-start)*len(days))
		for _, p := range pairs[start:end] {
			for _, d := range dates {
				keys = append(keys, dayKey(p.app, p.org, d))
			}
		}
		var vals []any
		var err error
		if c.c.SplitBySlot {
			vals, err = c.readDaysPerKey(ctx, keys)
		} else {
			vals, err = readDaysScript.Run(ctx, c.c.Redis, keys).Slice()
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read breaker counters: %w", err)
		}
		if len(vals) != 3*len(keys) {
			return nil, fmt.Errorf("read breaker counters: %d values for %d keys", len(vals), len(keys))
		}
		for i := start; i < end; i++ {
			row := make([]DayCount, len(days))
			for j := range days {
				k := 3 * ((i-start)*len(days) + j)
				row[j] = DayCount{Date: dates[j], Success: num(vals, k), Error: num(vals, k+1), Timeout: num(vals, k+2)}
			}
			out[i] = row
		}
	}
	return out, nil
}

// readDaysPerKey is readDaysScript's reply read with one pipelined HMGET a
// key: the daily keys of an app are spread over the hash slots, so one
// script cannot name them on Redis Cluster. The ClusterClient sends the
// pipeline to every node concurrently, one round trip each.
func (c *Console) readDaysPerKey(ctx context.Context, keys []string) ([]any, error) {
	pipe := c.c.Redis.Pipeline()
	cmds := make([]*redis.SliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, k, fieldSuccess, fieldError, fieldTimeout)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	vals := make([]any, 0, 3*len(keys))
	for _, cmd := range cmds {
		v := cmd.Val()
		if len(v) != 3 {
			return nil, fmt.Errorf("HMGET returned %d values, want 3", len(v))
		}
		vals = append(vals, v...)
	}
	return vals, nil
}

// dayKey is breaker.Key for a day already formatted (YYYY-MM-DD): the
// same key, without formatting the date once per app (TestDayKey holds
// the two together).
func dayKey(appID, orgID int64, date string) string {
	return "sentry-app-error:" + strconv.FormatInt(appID, 10) + ":" + strconv.FormatInt(orgID, 10) + ":" + date
}

// num reads one HMGET value; missing or unreadable values count as zero.
func num(vals []any, i int) int64 {
	if i >= len(vals) {
		return 0
	}
	s, ok := vals[i].(string)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// brokenNow applies the breaker's rule to a window read oldest first.
func (c *Console) brokenNow(days []DayCount) bool {
	bd := make([]breaker.Day, len(days))
	for i, d := range days {
		bd[len(days)-1-i] = breaker.Day{Success: d.Success, Error: d.Error, Timeout: d.Timeout}
	}
	return breaker.IsBroken(bd, c.c.TimeoutThreshold)
}

func emptyDays(days []time.Time) []DayCount {
	out := make([]DayCount, len(days))
	for i, d := range days {
		out[i] = DayCount{Date: d.Format(time.DateOnly)}
	}
	return out
}

func addDays(sum, add []DayCount) {
	for i := range sum {
		sum[i].Success += add[i].Success
		sum[i].Error += add[i].Error
		sum[i].Timeout += add[i].Timeout
	}
}

// Apps returns one page of apps (page counts from 1; perPage 0 means
// PerPageDefault). Every app's breaker counters are read to order the list;
// the request log and the audit log are read for the page's apps only.
func (c *Console) Apps(ctx context.Context, page, perPage int) (AppsPage, error) {
	if page < 1 {
		return AppsPage{}, &BadRequestError{Detail: "page must be a positive integer."}
	}
	if perPage == 0 {
		perPage = PerPageDefault
	}
	if perPage < 1 || perPage > PerPageMax {
		return AppsPage{}, &BadRequestError{Detail: fmt.Sprintf("perPage must be between 1 and %d.", PerPageMax)}
	}
	apps, insts, err := c.loadAll(ctx)
	if err != nil {
		return AppsPage{}, err
	}
	orgsOf := map[int64][]int64{}
	for _, in := range insts {
		orgsOf[in.SentryAppID] = append(orgsOf[in.SentryAppID], in.OrganizationID)
	}

	days := c.days()
	var pairs []pair
	for _, a := range apps {
		if a.Status == models.AppInternal {
			for _, o := range orgsOf[a.ID] {
				pairs = append(pairs, pair{a.ID, o})
			}
		}
	}
	counts, err := c.readDays(ctx, pairs, days)
	if err != nil {
		return AppsPage{}, err
	}
	byApp := map[int64][][]DayCount{}
	for i, p := range pairs {
		byApp[p.app] = append(byApp[p.app], counts[i])
	}

	zero := emptyDays(days)
	sums := make([]AppSummary, len(apps))
	for i, a := range apps {
		s := AppSummary{ID: a.ID, Slug: a.Slug, Name: a.Name, Status: statusName(a.Status), Enabled: len(a.Events) > 0,
			Events: nonNil(a.Events), Installations: len(orgsOf[a.ID]), Counted: a.Status == models.AppInternal, Days: slices.Clone(zero)}
		for _, d := range byApp[a.ID] {
			addDays(s.Days, d)
			s.BrokenNow = s.BrokenNow || c.brokenNow(d)
		}
		sums[i] = s
	}
	rank := func(s AppSummary) int {
		switch {
		case !s.Enabled:
			return 0
		case s.BrokenNow:
			return 1
		case s.Failing():
			return 2
		default:
			return 3
		}
	}
	type sortKey struct {
		rank       int
		name, slug string
		i          int
	}
	keys := make([]sortKey, len(sums))
	for i, s := range sums {
		keys[i] = sortKey{rank(s), strings.ToLower(s.Name), s.Slug, i}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.name, b.name), strings.Compare(a.slug, b.slug))
	})
	sorted := make([]AppSummary, len(sums))
	for i, k := range keys {
		sorted[i] = sums[k.i]
	}
	sums = sorted

	out := AppsPage{Page: page, PerPage: perPage, Total: len(sums), Pages: max(1, (len(sums)+perPage-1)/perPage)}
	for _, d := range days {
		out.Days = append(out.Days, d.Format(time.DateOnly))
	}
	lo := min((page-1)*perPage, len(sums))
	out.Apps = sums[lo:min(lo+perPage, len(sums))]
	if out.Apps == nil {
		out.Apps = []AppSummary{}
	}

	rows := map[int64]appRow{}
	for _, a := range apps {
		rows[a.ID] = a
	}
	ids := make([]int64, len(out.Apps))
	for i, s := range out.Apps {
		ids[i] = s.ID
	}
	last, err := c.lastFailures(ctx, ids)
	if err != nil {
		return AppsPage{}, err
	}
	for i := range out.Apps {
		s := &out.Apps[i]
		s.LastFailure = last[s.ID]
		if !s.Enabled {
			r := rows[s.ID]
			since, err := c.disabledSince(ctx, r, orgsOf[s.ID])
			if err != nil {
				return AppsPage{}, err
			}
			s.DisabledSince = &since
		}
	}
	return out, nil
}

// installRow is one installed installation.
type installRow struct{ SentryAppID, OrganizationID int64 }

// loadAll reads every app and installation, scanning rows by hand: with
// 10,000 apps GORM's reflection would cost more than the queries.
func (c *Console) loadAll(ctx context.Context) ([]appRow, []installRow, error) {
	db := c.c.DB.WithContext(ctx)
	rows, err := db.Model(&models.SentryApp{}).Select("id, slug, name, status, events, owner_id, date_updated").
		Where("date_deleted IS NULL").Rows()
	if err != nil {
		return nil, nil, fmt.Errorf("list apps: %w", err)
	}
	var apps []appRow
	for rows.Next() {
		var a appRow
		if err := rows.Scan(&a.ID, &a.Slug, &a.Name, &a.Status, &a.Events, &a.OwnerID, &a.DateUpdated); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("list apps: %w", err)
		}
		apps = append(apps, a)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("list apps: %w", err)
	}
	rows, err = db.Model(&models.SentryAppInstallation{}).Select("sentry_app_id, organization_id").
		Where("date_deleted IS NULL AND status = ?", models.InstallationInstalled).Rows()
	if err != nil {
		return nil, nil, fmt.Errorf("list installations: %w", err)
	}
	var insts []installRow
	for rows.Next() {
		var in installRow
		if err := rows.Scan(&in.SentryAppID, &in.OrganizationID); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("list installations: %w", err)
		}
		insts = append(insts, in)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("list installations: %w", err)
	}
	return apps, insts, nil
}

func nonNil(l models.StringList) []string {
	if l == nil {
		return []string{}
	}
	return []string(l)
}

// lastFailures returns the newest entry of each app's error lists (every
// event's), in one pipelined round trip.
func (c *Console) lastFailures(ctx context.Context, appIDs []int64) (map[int64]*Failure, error) {
	out := map[int64]*Failure{}
	if len(appIDs) == 0 {
		return out, nil
	}
	events := event.Extended()
	pipe := c.c.Redis.Pipeline()
	cmds := make([]*redis.StringCmd, 0, len(appIDs)*len(events))
	for _, id := range appIDs {
		for _, e := range events {
			cmds = append(cmds, pipe.LIndex(ctx, requestlog.ErrorKey(id, e), 0))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read request log: %w", err)
	}
	for i, id := range appIDs {
		var best *Failure
		var bestAt time.Time
		for j, e := range events {
			raw, err := cmds[i*len(events)+j].Result()
			if err != nil {
				continue
			}
			var en requestlog.Entry
			if json.Unmarshal([]byte(raw), &en) != nil {
				continue
			}
			at := entryTime(en.Date)
			if best == nil || at.After(bestAt) {
				best, bestAt = &Failure{ResponseCode: en.ResponseCode, Date: en.Date, EventType: e}, at
			}
		}
		if best != nil {
			out[id] = best
		}
	}
	return out, nil
}

// entryTime parses a request-log date; a date it cannot read is the zero
// time (oldest).
func entryTime(s string) time.Time {
	t, err := time.Parse(requestlog.DateLayout, s)
	if err != nil {
		// Python writes no fraction when the microseconds are zero.
		t, err = time.Parse("2006-01-02 15:04:05-07:00", s)
		if err != nil {
			return time.Time{}
		}
	}
	return t
}

// AuditDisabled is the audit event of a disable by the breaker (Sentry's
// INTERNAL_INTEGRATION_DISABLED).
const AuditDisabled = models.AuditInternalIntegrationDisabled

// auditLabel names an audit event in the history.
func auditLabel(ev int) string {
	switch ev {
	case AuditDisabled:
		return "disabled"
	case models.AuditInternalIntegrationEnabled:
		return "enabled"
	}
	return "audit event " + strconv.Itoa(ev)
}

// history returns the app's audit entries in the organizations that have it
// (and its owner), newest first: the entries whose data names the app (its
// name, as the disable writes it, or its slug).
func (c *Console) history(ctx context.Context, a appRow, orgIDs []int64, onlyEvent int, limit int) ([]AuditEvent, error) {
	orgs := append([]int64{a.OwnerID}, orgIDs...)
	q := c.c.DB.WithContext(ctx).Model(&models.AuditLogEntry{}).Where("organization_id IN ?", orgs).Order("datetime DESC, id DESC").Limit(1000)
	if onlyEvent != 0 {
		q = q.Where("event = ?", onlyEvent)
	}
	var rows []models.AuditLogEntry
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read audit log of app %s: %w", a.Slug, err)
	}
	slugs := map[int64]string{}
	var out []AuditEvent
	for _, r := range rows {
		if !namesApp(r.Data, a) {
			continue
		}
		if _, ok := slugs[r.OrganizationID]; !ok {
			var org models.Organization
			if err := c.c.DB.WithContext(ctx).Select("slug").Where("id = ?", r.OrganizationID).Limit(1).Find(&org).Error; err != nil {
				return nil, fmt.Errorf("read organization %d: %w", r.OrganizationID, err)
			}
			slugs[r.OrganizationID] = org.Slug
		}
		out = append(out, AuditEvent{ID: r.ID, Date: r.Datetime.UTC(), Event: r.Event, Label: auditLabel(r.Event),
			Organization: slugs[r.OrganizationID], Actor: r.ActorLabel, Data: r.Data})
		if len(out) == limit {
			break
		}
	}
	if out == nil {
		out = []AuditEvent{}
	}
	return out, nil
}

func namesApp(data models.JSONObject, a appRow) bool {
	for _, k := range []string{"slug", "sentry_app_slug", "sentryAppSlug"} {
		if v, ok := data[k].(string); ok && v == a.Slug {
			return true
		}
	}
	if v, ok := data["name"].(string); ok && v == a.Name {
		return true
	}
	return false
}

// disabledSince is the time of the app's last disable.
func (c *Console) disabledSince(ctx context.Context, a appRow, orgIDs []int64) (time.Time, error) {
	h, err := c.history(ctx, a, orgIDs, AuditDisabled, 1)
	if err != nil {
		return time.Time{}, err
	}
	if len(h) > 0 {
		return h[0].Date, nil
	}
	return a.DateUpdated.UTC(), nil
}

// loadApp reads one app by slug.
func (c *Console) loadApp(ctx context.Context, slug string) (appRow, error) {
	var rows []appRow
	if err := c.c.DB.WithContext(ctx).Model(&models.SentryApp{}).
		Select("id, slug, name, status, events, owner_id, webhook_url, date_updated").
		Where("slug = ? AND date_deleted IS NULL", slug).Limit(1).Find(&rows).Error; err != nil {
		return appRow{}, fmt.Errorf("read app %q: %w", slug, err)
	}
	if len(rows) == 0 {
		return appRow{}, fmt.Errorf("app %q: %w", slug, ErrUnknownApp)
	}
	return rows[0], nil
}

// Lookup returns nil when slug names an app, else an error wrapping
// ErrUnknownApp.
func (c *Console) Lookup(ctx context.Context, slug string) error {
	_, err := c.loadApp(ctx, slug)
	return err
}

// App returns the detail of one app: per-organization counters, the request
// log filtered by q (Sentry's semantics, see Requests), and the history.
func (c *Console) App(ctx context.Context, slug string, q RequestQuery) (AppDetail, error) {
	a, err := c.loadApp(ctx, slug)
	if err != nil {
		return AppDetail{}, err
	}
	var orgs []models.Organization
	if err := c.c.DB.WithContext(ctx).Model(&models.Organization{}).
		Joins("JOIN sentry_app_installations i ON i.organization_id = organizations.id").
		Where("i.sentry_app_id = ? AND i.date_deleted IS NULL AND i.status = ?", a.ID, models.InstallationInstalled).
		Order("organizations.slug").Find(&orgs).Error; err != nil {
		return AppDetail{}, fmt.Errorf("read organizations of app %s: %w", slug, err)
	}
	days := c.days()
	d := AppDetail{
		AppSummary: AppSummary{ID: a.ID, Slug: a.Slug, Name: a.Name, Status: statusName(a.Status), Enabled: len(a.Events) > 0,
			Events: nonNil(a.Events), Installations: len(orgs), Counted: a.Status == models.AppInternal, Days: emptyDays(days)},
		Filter: q, EventTypes: event.Extended(), Organizations: []OrgState{},
	}
	if a.WebhookURL != nil {
		// Shown redacted like every URL hookworker displays; the request
		// list keeps the URL as Sentry does.
		d.WebhookURL = config.Redact(*a.WebhookURL)
	}
	var pairs []pair
	orgIDs := make([]int64, len(orgs))
	for i, o := range orgs {
		orgIDs[i] = o.ID
		if d.Counted {
			pairs = append(pairs, pair{a.ID, o.ID})
		}
	}
	counts, err := c.readDays(ctx, pairs, days)
	if err != nil {
		return AppDetail{}, err
	}
	for i, o := range orgs {
		st := OrgState{ID: o.ID, Slug: o.Slug, Name: o.Name, Days: emptyDays(days)}
		if d.Counted {
			st.Days = counts[i]
			st.BrokenNow = c.brokenNow(counts[i])
			addDays(d.Days, counts[i])
			d.BrokenNow = d.BrokenNow || st.BrokenNow
		}
		d.Organizations = append(d.Organizations, st)
	}
	last, err := c.lastFailures(ctx, []int64{a.ID})
	if err != nil {
		return AppDetail{}, err
	}
	d.LastFailure = last[a.ID]
	if !d.Enabled {
		since, err := c.disabledSince(ctx, a, orgIDs)
		if err != nil {
			return AppDetail{}, err
		}
		d.DisabledSince = &since
	}
	if d.Requests, err = c.requests(ctx, a, q); err != nil {
		return AppDetail{}, err
	}
	if d.History, err = c.history(ctx, a, orgIDs, 0, 50); err != nil {
		return AppDetail{}, err
	}
	return d, nil
}

// RequestQuery is the request log's filter, in the query parameters of
// Sentry's sentry-app-requests endpoint.
type RequestQuery struct {
	EventType        string     `json:"eventType,omitempty"`
	ErrorsOnly       bool       `json:"errorsOnly,omitempty"`
	OrganizationSlug string     `json:"organizationSlug,omitempty"`
	Start            *time.Time `json:"start,omitempty"`
	End              *time.Time `json:"end,omitempty"`
}

// requestDateLayout is the start and end parameters' format.
const requestDateLayout = "2006-01-02 15:04:05"

// Messages of a bad filter, Sentry's words.
const (
	invalidDateMessage  = "Invalid date format. Format must be YYYY-MM-DD HH:MM:SS."
	invalidEventMessage = "Invalid event type."
	invalidOrgMessage   = "Invalid organization."
)

// ParseRequestQuery reads eventType, errorsOnly, organizationSlug, start
// and end (UTC, YYYY-MM-DD HH:MM:SS). A bad value is a *BadRequestError.
// errorsOnly takes true/false (1/0); Sentry took any non-empty value as
// true, which made errorsOnly=false mean true.
func ParseRequestQuery(v url.Values) (RequestQuery, error) {
	var q RequestQuery
	if e := v.Get("eventType"); e != "" {
		if !slices.Contains(event.Extended(), e) {
			return q, &BadRequestError{Detail: invalidEventMessage}
		}
		q.EventType = e
	}
	if s := v.Get("errorsOnly"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, &BadRequestError{Detail: "Invalid errorsOnly: want true or false."}
		}
		q.ErrorsOnly = b
	}
	q.OrganizationSlug = v.Get("organizationSlug")
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"start", &q.Start}, {"end", &q.End}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(requestDateLayout, s)
		if err != nil {
			return q, &BadRequestError{Detail: invalidDateMessage}
		}
		*p.dst = &t
	}
	return q, nil
}

// Request is one request-log entry as Sentry's sentry-app-requests endpoint
// answers it.
type Request struct {
	WebhookURL    string
	SentryAppSlug string
	EventType     string
	Date          string
	ResponseCode  int
	// Failure is whether the entry carries the request and the response
	// (code >= 400 or 0).
	Failure        bool
	RequestBody    *string
	RequestHeaders map[string]string
	ResponseBody   *string
	ErrorURL       string
	Organization   *OrgRef
}

// MarshalJSON writes Sentry's shape: the three failure fields are present
// (null when missing) exactly for failures, errorUrl and organization only
// when known.
func (r Request) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"webhookUrl":    r.WebhookURL,
		"sentryAppSlug": r.SentryAppSlug,
		"eventType":     r.EventType,
		"date":          r.Date,
		"responseCode":  r.ResponseCode,
	}
	if r.Failure {
		m["requestBody"], m["requestHeaders"], m["responseBody"] = r.RequestBody, r.RequestHeaders, r.ResponseBody
	}
	if r.ErrorURL != "" {
		m["errorUrl"] = r.ErrorURL
	}
	if r.Organization != nil {
		m["organization"] = r.Organization
	}
	return json.Marshal(m)
}

// Requests answers GET /api/apps/{slug}/requests as Sentry's
// sentry-app-requests endpoint does: at most 100 entries, newest first,
// from one event's list (or the newest 100 of every event's), the error
// lists when q.ErrorsOnly; then the organization and date filters. An
// internal app's entries carry no organization; they belong to its owner.
func (c *Console) Requests(ctx context.Context, slug string, q RequestQuery) ([]Request, error) {
	a, err := c.loadApp(ctx, slug)
	if err != nil {
		return nil, err
	}
	return c.requests(ctx, a, q)
}

type loggedEntry struct {
	requestlog.Entry
	event string
	at    time.Time
}

func (c *Console) requests(ctx context.Context, a appRow, q RequestQuery) ([]Request, error) {
	var orgFilter *models.Organization
	if q.OrganizationSlug != "" {
		var orgs []models.Organization
		if err := c.c.DB.WithContext(ctx).Where("slug = ?", q.OrganizationSlug).Limit(1).Find(&orgs).Error; err != nil {
			return nil, fmt.Errorf("read organization: %w", err)
		}
		if len(orgs) == 0 {
			return nil, &BadRequestError{Detail: invalidOrgMessage}
		}
		orgFilter = &orgs[0]
	}
	key := requestlog.RequestKey
	if q.ErrorsOnly {
		key = requestlog.ErrorKey
	}
	events := event.Extended()
	if q.EventType != "" {
		events = []string{q.EventType}
	}
	pipe := c.c.Redis.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(events))
	for i, e := range events {
		cmds[i] = pipe.LRange(ctx, key(a.ID, e), 0, requestlog.MaxEntries-1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read request log of app %s: %w", a.Slug, err)
	}
	var entries []loggedEntry
	for i, e := range events {
		for _, raw := range cmds[i].Val() {
			var en requestlog.Entry
			if json.Unmarshal([]byte(raw), &en) != nil {
				continue
			}
			entries = append(entries, loggedEntry{Entry: en, event: e, at: entryTime(en.Date)})
		}
	}
	if len(events) > 1 {
		// Each list is newest first already; merged lists are sorted.
		slices.SortStableFunc(entries, func(x, y loggedEntry) int { return y.at.Compare(x.at) })
	}
	entries = entries[:min(len(entries), requestlog.MaxEntries)]

	orgIDs := map[int64]bool{}
	for _, en := range entries {
		if en.OrganizationID != nil {
			orgIDs[*en.OrganizationID] = true
		}
	}
	orgs := map[int64]OrgRef{}
	var owner models.Organization
	if len(orgIDs) > 0 || orgFilter != nil || a.Status == models.AppInternal {
		ids := []int64{a.OwnerID}
		for id := range orgIDs {
			ids = append(ids, id)
		}
		var rows []models.Organization
		if err := c.c.DB.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("read organizations: %w", err)
		}
		for _, o := range rows {
			orgs[o.ID] = OrgRef{Name: o.Name, Slug: o.Slug}
			if o.ID == a.OwnerID {
				owner = o
			}
		}
	}

	out := []Request{}
	for _, en := range entries {
		if q.Start != nil || q.End != nil {
			at := en.at.Truncate(time.Second)
			if en.at.IsZero() || q.Start != nil && at.Before(*q.Start) || q.End != nil && at.After(*q.End) {
				continue
			}
		}
		orgID := a.OwnerID
		if en.OrganizationID != nil {
			orgID = *en.OrganizationID
		}
		if orgFilter != nil && orgFilter.ID != orgID {
			continue
		}
		r := Request{WebhookURL: en.WebhookURL, SentryAppSlug: a.Slug, EventType: en.event, Date: en.Date,
			ResponseCode: en.ResponseCode, Failure: requestlog.IsFailure(en.ResponseCode)}
		if r.Failure {
			r.RequestBody, r.RequestHeaders, r.ResponseBody = en.RequestBody, en.RequestHeaders, en.ResponseBody
		}
		if en.OrganizationID != nil {
			if o, ok := orgs[*en.OrganizationID]; ok {
				r.Organization = &o
			}
		}
		if en.ErrorID != nil && *en.ErrorID != "" && en.ProjectID != nil && *en.ProjectID != "" && owner.Slug != "" && c.c.BaseURL != "" {
			r.ErrorURL = c.c.BaseURL + "/organizations/" + url.PathEscape(owner.Slug) + "/issues/?" +
				url.Values{"project": {*en.ProjectID}, "query": {*en.ErrorID}}.Encode()
		}
		out = append(out, r)
	}
	return out, nil
}
