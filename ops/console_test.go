package ops_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/lifecycle"
	"github.com/hookworker/hookworker/metrics"
	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/ops"
	"github.com/hookworker/hookworker/requestlog"
)

// TestConsoleRequestsMatchTheLog writes attempts with the worker's own
// request-log writer and checks that GET /api/apps/{slug}/requests answers
// every entry field by field as Sentry's sentry-app-requests endpoint does,
// with its filters and its 400s.
func TestConsoleRequestsMatchTheLog(t *testing.T) {
	t.Parallel()
	b := setupConsole(t, nil)
	internal := b.seedApp(t, "Pager Bridge", models.AppInternal, 0)
	public := b.seedApp(t, "Public Tracker", models.AppPublished, 1)

	t0 := b.now.Add(-time.Hour)
	body := `{"action":"created","data":{"issue":{"id":"1"}}}`
	b.logRequest(t, internal.ID, "issue.created", requestlog.Attempt{Time: t0, ResponseCode: 200, Internal: true, RequestBody: []byte(body)})
	b.logRequest(t, internal.ID, "issue.created", requestlog.Attempt{Time: t0.Add(time.Minute), ResponseCode: 404, Internal: true,
		RequestBody: []byte(body), ResponseBody: []byte("no such hook <script>"),
		ResponseHeader: http.Header{"Sentry-Hook-Error": {"d5111da2c28645c5889d072017e3445d"}, "Sentry-Hook-Project": {"42"}}})
	b.logRequest(t, internal.ID, "error.created", requestlog.Attempt{Time: t0.Add(2 * time.Minute), ResponseCode: 0, Internal: true, RequestBody: []byte(body)})
	b.logRequest(t, internal.ID, "comment.created", requestlog.Attempt{Time: t0.Add(3 * time.Minute), ResponseCode: 302, Internal: true})
	client := public.Orgs[1]
	b.logRequest(t, public.ID, "issue.created", requestlog.Attempt{Time: t0, ResponseCode: 500, OrganizationID: public.OwnerID, RequestBody: []byte(body)})
	b.logRequest(t, public.ID, "issue.created", requestlog.Attempt{Time: t0.Add(time.Second), ResponseCode: 201, OrganizationID: client.ID})

	// The entries as Redis holds them, newest first across events.
	raw := func(appID int64, key func(int64, string) string, events ...string) []map[string]any {
		var out []map[string]any
		for _, e := range events {
			vals, err := b.rdb.Client.LRange(t.Context(), key(appID, e), 0, -1).Result()
			require.NoError(t, err)
			for _, v := range vals {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(v), &m))
				m["event_type"] = e
				out = append(out, m)
			}
		}
		return out
	}
	getList := func(slug, query string) []map[string]any {
		r := get(t, b.base+"/api/apps/"+slug+"/requests"+query, "")
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		var list []map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &list))
		return list
	}
	// compare checks one answered item against its Redis entry, field by field.
	compare := func(slug string, got, entry map[string]any, org *models.Organization) {
		t.Helper()
		require.Equal(t, entry["webhook_url"], got["webhookUrl"])
		require.Equal(t, slug, got["sentryAppSlug"])
		require.Equal(t, entry["event_type"], got["eventType"])
		require.Equal(t, entry["date"], got["date"])
		require.Equal(t, entry["response_code"], got["responseCode"])
		code := int(entry["response_code"].(float64))
		keys := []string{"webhookUrl", "sentryAppSlug", "eventType", "date", "responseCode"}
		if code >= 400 || code == 0 {
			require.Equal(t, entry["request_body"], got["requestBody"])
			require.Equal(t, entry["request_headers"], got["requestHeaders"])
			require.Equal(t, entry["response_body"], got["responseBody"])
			keys = append(keys, "requestBody", "requestHeaders", "responseBody")
		}
		if entry["error_id"] != nil {
			require.Equal(t, "https://sentry.example.com/organizations/"+internal.OwnerSlug+"/issues/?project="+
				entry["project_id"].(string)+"&query="+entry["error_id"].(string), got["errorUrl"])
			keys = append(keys, "errorUrl")
		}
		if org != nil {
			require.Equal(t, map[string]any{"name": org.Name, "slug": org.Slug}, got["organization"])
			keys = append(keys, "organization")
		}
		gotKeys := make([]string, 0, len(got))
		for k := range got {
			gotKeys = append(gotKeys, k)
		}
		require.ElementsMatch(t, keys, gotKeys, "the item has exactly Sentry's keys")
	}

	all := getList(internal.Slug, "")
	want := raw(internal.ID, requestlog.RequestKey, "comment.created", "error.created", "issue.created")
	require.Len(t, all, 4)
	require.Len(t, want, 4)
	for i := range all {
		compare(internal.Slug, all[i], want[i], nil)
	}
	require.Equal(t, []any{float64(302), float64(0), float64(404), float64(200)},
		[]any{all[0]["responseCode"], all[1]["responseCode"], all[2]["responseCode"], all[3]["responseCode"]}, "newest first")

	errs := getList(internal.Slug, "?errorsOnly=true")
	wantErrs := raw(internal.ID, requestlog.ErrorKey, "error.created", "issue.created")
	require.Len(t, errs, 2)
	for i := range errs {
		compare(internal.Slug, errs[i], wantErrs[i], nil)
	}
	one := getList(internal.Slug, "?eventType=issue.created&errorsOnly=true")
	require.Len(t, one, 1)
	compare(internal.Slug, one[0], wantErrs[1], nil)
	require.Len(t, getList(internal.Slug, "?organizationSlug="+internal.OwnerSlug), 4, "an internal app's entries are its owner's")

	pub := getList(public.Slug, "")
	wantPub := raw(public.ID, requestlog.RequestKey, "issue.created")
	require.Len(t, pub, 2)
	compare(public.Slug, pub[0], wantPub[0], &client)
	compare(public.Slug, pub[1], wantPub[1], &public.Orgs[0])
	byOrg := getList(public.Slug, "?organizationSlug="+client.Slug)
	require.Len(t, byOrg, 1)
	compare(public.Slug, byOrg[0], wantPub[0], &client)

	// Dates: whole seconds, both ends included, UTC.
	q := url.Values{"start": {t0.Add(time.Minute).Format("2006-01-02 15:04:05")}, "end": {t0.Add(2 * time.Minute).Format("2006-01-02 15:04:05")}}
	window := getList(internal.Slug, "?"+q.Encode())
	require.Len(t, window, 2)
	require.Equal(t, []any{float64(0), float64(404)}, []any{window[0]["responseCode"], window[1]["responseCode"]})

	bad := []struct{ query, detail string }{
		{"?eventType=issue.exploded", "Invalid event type."},
		{"?start=yesterday", "Invalid date format. Format must be YYYY-MM-DD HH:MM:SS."},
		{"?end=2026-01-01T00:00:00Z", "Invalid date format. Format must be YYYY-MM-DD HH:MM:SS."},
		{"?organizationSlug=nobody-has-this", "Invalid organization."},
		{"?errorsOnly=maybe", "Invalid errorsOnly: want true or false."},
	}
	for _, c := range bad {
		r := get(t, b.base+"/api/apps/"+internal.Slug+"/requests"+c.query, "")
		require.Equal(t, http.StatusBadRequest, r.code, c.query)
		require.JSONEq(t, `{"detail":`+mustJSON(t, c.detail)+`}`, r.body, c.query)
	}
	r := get(t, b.base+"/api/apps/no-such-app/requests", "")
	require.Equal(t, http.StatusNotFound, r.code)
	require.JSONEq(t, `{"detail":"App not found."}`, r.body)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestConsoleListsAppsWorstFirst checks /apps/ and GET /api/apps: disabled
// apps first, then broken, then failing, then the rest; the window's
// counters summed per day; paging; and that the page shows what the API
// says.
func TestConsoleListsAppsWorstFirst(t *testing.T) {
	t.Parallel()
	b := setupConsole(t, nil)
	healthy := b.seedApp(t, "Aardvark Healthy", models.AppInternal, 0)
	failing := b.seedApp(t, "Beaver Failing", models.AppInternal, 1)
	broken := b.seedApp(t, "Cougar Broken", models.AppInternal, 0)
	disabled := b.seedApp(t, "Dingo Disabled", models.AppInternal, 0)
	public := b.seedApp(t, "Eagle Public", models.AppPublished, 2)
	disabledAt := b.now.Add(-3 * time.Hour).Truncate(time.Second)
	b.disable(t, disabled, disabledAt)

	b.count(t, healthy.ID, healthy.OwnerID, 0, "success_count", 10)
	b.count(t, failing.ID, failing.Orgs[0].ID, 1, "error_count", 2)
	b.count(t, failing.ID, failing.Orgs[1].ID, 1, "error_count", 3)
	b.count(t, failing.ID, failing.Orgs[1].ID, 1, "timeout_count", 1)
	b.count(t, failing.ID, failing.Orgs[0].ID, 6, "success_count", 7)
	b.count(t, failing.ID, failing.Orgs[0].ID, 7, "error_count", 100) // outside the window
	b.count(t, broken.ID, broken.OwnerID, 0, "timeout_count", 5)      // threshold 5
	b.logRequest(t, failing.ID, "error.created", requestlog.Attempt{Time: b.now.Add(-time.Minute), ResponseCode: 410, Internal: true})

	r := get(t, b.base+"/api/apps", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	var page ops.AppsPage
	require.NoError(t, json.Unmarshal([]byte(r.body), &page))
	var order []string
	for _, a := range page.Apps {
		order = append(order, a.Slug)
	}
	require.Equal(t, []string{disabled.Slug, broken.Slug, failing.Slug, healthy.Slug, public.Slug}, order)
	require.Equal(t, 5, page.Total)
	require.Len(t, page.Days, 7)
	require.Equal(t, b.now.Format(time.DateOnly), page.Days[6])

	byslug := map[string]ops.AppSummary{}
	for _, a := range page.Apps {
		byslug[a.Slug] = a
	}
	d := byslug[disabled.Slug]
	require.False(t, d.Enabled)
	require.NotNil(t, d.DisabledSince)
	require.True(t, disabledAt.Equal(*d.DisabledSince), "%v != %v", disabledAt, d.DisabledSince)
	f := byslug[failing.Slug]
	require.Equal(t, ops.DayCount{Date: page.Days[5], Error: 5, Timeout: 1}, f.Days[5], "two organizations summed")
	require.Equal(t, ops.DayCount{Date: page.Days[0], Success: 7}, f.Days[0])
	require.Equal(t, 2, f.Installations)
	require.False(t, f.BrokenNow)
	require.Equal(t, &ops.Failure{ResponseCode: 410, Date: b.now.Add(-time.Minute).UTC().Format(requestlog.DateLayout), EventType: "error.created"}, f.LastFailure)
	require.True(t, byslug[broken.Slug].BrokenNow)
	require.Equal(t, "published", byslug[public.Slug].Status)
	require.False(t, byslug[public.Slug].Counted)
	require.Equal(t, 3, byslug[public.Slug].Installations)

	// Paging.
	r = get(t, b.base+"/api/apps?page=2&perPage=2", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	var p2 ops.AppsPage
	require.NoError(t, json.Unmarshal([]byte(r.body), &p2))
	require.Equal(t, 3, p2.Pages)
	require.Equal(t, []string{failing.Slug, healthy.Slug}, []string{p2.Apps[0].Slug, p2.Apps[1].Slug})
	for _, q := range []string{"?page=0", "?perPage=100000", "?page=x"} {
		require.Equal(t, http.StatusBadRequest, get(t, b.base+"/api/apps"+q, "").code, q)
	}

	// The page lists the same apps in the same order, with charts.
	html := get(t, b.base+"/apps/", "")
	require.Equal(t, http.StatusOK, html.code, html.body)
	rows := regexp.MustCompile(`data-slug="([^"]+)"`).FindAllStringSubmatch(html.body, -1)
	var pageOrder []string
	for _, m := range rows {
		pageOrder = append(pageOrder, m[1])
	}
	require.Equal(t, order, pageOrder)
	require.Contains(t, html.body, "disabled since "+disabledAt.Format("2006-01-02 15:04:05")+" UTC")
	require.Contains(t, html.body, `<title>`+page.Days[5]+`: 0 success, 5 error, 1 timeout</title>`)
	require.Contains(t, html.body, "broken now")
	require.Contains(t, get(t, b.base+"/", "").body, "/apps/")
	require.Equal(t, http.StatusOK, get(t, b.base+"/apps", "").code, "redirected to /apps/")
}

// TestConsoleAppPage checks /apps/{slug}/ and GET /api/apps/{slug}: per
// organization counters, the filtered request log with each failure's
// request and response, and the history.
func TestConsoleAppPage(t *testing.T) {
	t.Parallel()
	b := setupConsole(t, nil)
	a := b.seedApp(t, "Pager Bridge", models.AppInternal, 1)
	b.disable(t, a, b.now.Add(-time.Hour))
	b.count(t, a.ID, a.Orgs[1].ID, 0, "error_count", 4)
	b.logRequest(t, a.ID, "issue.created", requestlog.Attempt{Time: b.now.Add(-3 * time.Minute), ResponseCode: 200, Internal: true})
	b.logRequest(t, a.ID, "issue.created", requestlog.Attempt{Time: b.now.Add(-2 * time.Minute), ResponseCode: 422, Internal: true,
		RequestBody: []byte(`{"action":"created"}`), ResponseBody: []byte(`{"error":"bad <field>"}`)})

	r := get(t, b.base+"/api/apps/"+a.Slug, "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	var d ops.AppDetail
	require.NoError(t, json.Unmarshal([]byte(r.body), &d))
	require.Equal(t, a.Slug, d.Slug)
	require.False(t, d.Enabled)
	require.Len(t, d.Organizations, 2)
	require.Equal(t, int64(4), d.Days[6].Error)
	require.Len(t, d.Requests, 2)
	require.Len(t, d.History, 1)
	require.Equal(t, "disabled", d.History[0].Label)
	require.Equal(t, "Sentry", d.History[0].Actor)

	page := get(t, b.base+"/apps/"+a.Slug+"/?errorsOnly=true", "")
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Equal(t, 1, strings.Count(page.body, `<tr class="request`), "errors only")
	require.Contains(t, page.body, `{&#34;error&#34;:&#34;bad &lt;field&gt;&#34;}`, "the response body, escaped")
	require.Contains(t, page.body, `id="reenable"`)
	require.Contains(t, page.body, "disabled (131)")
	require.Equal(t, 2, strings.Count(get(t, b.base+"/apps/"+a.Slug+"/", "").body, `<tr class="request`))
	require.Equal(t, http.StatusBadRequest, get(t, b.base+"/apps/"+a.Slug+"/?eventType=nope", "").code)
	require.Equal(t, http.StatusNotFound, get(t, b.base+"/apps/nope/", "").code)
	require.Equal(t, http.StatusNotFound, get(t, b.base+"/api/apps/nope", "").code)
}

// TestConsoleActions checks the API's and the forms' actions: 204, 404,
// 409, the CSRF token, a cross-site form post refused, and read-only.
func TestConsoleActions(t *testing.T) {
	t.Parallel()
	b := setupConsole(t, nil)
	a := b.seedApp(t, "Pager Bridge", models.AppInternal, 1)
	b.disable(t, a, b.now.Add(-time.Hour))
	b.count(t, a.ID, a.Orgs[1].ID, 2, "timeout_count", 9)

	post := func(path string, h map[string]string, body string) reply {
		return send(t, http.MethodPost, b.base+path, h, body)
	}
	// API: clear, enable, enable again, unknown app.
	require.Equal(t, http.StatusNoContent, post("/api/apps/"+a.Slug+"/breaker/clear", nil, "").code)
	n, err := b.rdb.Client.Exists(t.Context(), breakerKey(a.ID, a.Orgs[1].ID, b.now.AddDate(0, 0, -2))).Result()
	require.NoError(t, err)
	require.Zero(t, n, "the breaker key is gone")
	r := post("/api/apps/"+a.Slug+"/enable", map[string]string{"Content-Type": "application/json"}, `{"events":["issue.created"]}`)
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	require.Equal(t, []string{"issue.created"}, b.appEvents(t, a.ID), "--events overrides")
	r = post("/api/apps/"+a.Slug+"/enable", nil, "")
	require.Equal(t, http.StatusConflict, r.code, r.body)
	require.JSONEq(t, `{"detail":"App is already enabled."}`, r.body)
	require.Equal(t, http.StatusNotFound, post("/api/apps/nope/enable", nil, "").code)
	require.Equal(t, http.StatusNotFound, post("/api/apps/nope/breaker/clear", nil, "").code)
	require.Equal(t, http.StatusBadRequest, post("/api/apps/"+a.Slug+"/enable", nil, `{"events":["issue.exploded"]}`).code)
	require.Equal(t, http.StatusMethodNotAllowed, get(t, b.base+"/api/apps/"+a.Slug+"/enable", "").code)

	// Forms: disabled again; a post without the token, with another
	// cookie's token, and cross-site with a good token are all refused.
	require.NoError(t, b.pg.DB.Model(&models.SentryApp{}).Where("id = ?", a.ID).Update("events", models.StringList{}).Error)
	page := send(t, http.MethodGet, b.base+"/apps/"+a.Slug+"/", nil, "")
	cookie := cookieValue(t, page.header, "hw_csrf")
	token := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page.body)
	require.NotNil(t, token, "the form carries a token")
	form := "application/x-www-form-urlencoded"
	refused := []struct {
		h    map[string]string
		body string
	}{
		{map[string]string{"Content-Type": form, "Cookie": "hw_csrf=" + cookie}, "csrf="},
		{map[string]string{"Content-Type": form, "Cookie": "hw_csrf=" + cookie}, "other=1"},
		{map[string]string{"Content-Type": form, "Cookie": "hw_csrf=00000000000000000000000000000000"}, "csrf=" + token[1]},
		{map[string]string{"Content-Type": form}, "csrf=" + token[1]},
	}
	for _, c := range refused {
		r := post("/apps/"+a.Slug+"/enable", c.h, c.body)
		require.Equal(t, http.StatusForbidden, r.code, "%v %s: %s", c.h, c.body, r.body)
		require.Contains(t, r.body, "CSRF token")
	}
	r = post("/apps/"+a.Slug+"/enable", map[string]string{"Content-Type": form, "Cookie": "hw_csrf=" + cookie,
		"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"}, "csrf="+token[1])
	require.Equal(t, http.StatusForbidden, r.code)
	require.Empty(t, b.appEvents(t, a.ID), "nothing refused changed the app")

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodPost, b.base+"/apps/"+a.Slug+"/enable", strings.NewReader("csrf="+token[1]))
	require.NoError(t, err)
	req.Header.Set("Content-Type", form)
	req.Header.Set("Cookie", "hw_csrf="+cookie)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/apps/"+a.Slug+"/?done=enabled", resp.Header.Get("Location"))
	require.Equal(t, []string{"issue.created", "error.created"}, b.appEvents(t, a.ID), "restores the events recorded at disable")

	// Read-only: no forms, and every action answers 405.
	ro := setupConsole(t, func(o *ops.Options) { o.ReadOnly = true })
	app := ro.seedApp(t, "Read Only", models.AppInternal, 0)
	ro.disable(t, app, ro.now)
	p := get(t, ro.base+"/apps/"+app.Slug+"/", "")
	require.Equal(t, http.StatusOK, p.code)
	require.NotContains(t, p.body, "<form class=\"inline\"")
	require.NotContains(t, p.body, "Re-enable")
	for _, path := range []string{"/api/apps/" + app.Slug + "/enable", "/api/apps/" + app.Slug + "/breaker/clear",
		"/apps/" + app.Slug + "/enable", "/apps/" + app.Slug + "/breaker/clear"} {
		r := send(t, http.MethodPost, ro.base+path, nil, "")
		require.Equal(t, http.StatusMethodNotAllowed, r.code, path)
	}
	require.Empty(t, ro.appEvents(t, app.ID))
	require.Empty(t, ro.integ.calls, "read-only never reaches the actions")
}

func cookieValue(t *testing.T, h http.Header, name string) string {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			require.True(t, c.HttpOnly)
			require.Equal(t, http.SameSiteStrictMode, c.SameSite)
			return c.Value
		}
	}
	require.Failf(t, "no cookie", "%s not set", name)
	return ""
}

// TestConsoleBehindBasicAuth checks that the console and its API ask for
// the operator's credentials.
func TestConsoleBehindBasicAuth(t *testing.T) {
	t.Parallel()
	b := setupConsole(t, func(o *ops.Options) { o.BasicAuth = "ops:pw" })
	a := b.seedApp(t, "Pager Bridge", models.AppInternal, 0)
	for _, path := range []string{"/apps/", "/apps/" + a.Slug + "/", "/api/apps", "/api/apps/" + a.Slug, "/api/apps/" + a.Slug + "/requests"} {
		require.Equal(t, http.StatusUnauthorized, get(t, b.base+path, "").code, path)
		require.Equal(t, http.StatusOK, get(t, b.base+path, "ops:pw").code, path)
	}
	require.Equal(t, http.StatusUnauthorized, send(t, http.MethodPost, b.base+"/api/apps/"+a.Slug+"/breaker/clear", nil, "").code)
}

// TestConsoleWithLifecycle runs the console's actions through package
// lifecycle's Manager, as the worker wires them: the API's enable restores
// the app, clears its counters and writes the audit entry the history
// shows as "enabled".
func TestConsoleWithLifecycle(t *testing.T) {
	t.Parallel()
	b := setupConsole(t, nil)
	a := b.seedApp(t, "Pager Bridge", models.AppInternal, 0)
	b.disable(t, a, b.now.Add(-time.Hour))
	b.count(t, a.ID, a.OwnerID, 0, "timeout_count", 3)
	console, err := ops.NewConsole(ops.ConsoleConfig{DB: b.pg.DB, Redis: b.rdb.Client,
		Integrations: lifecycle.NewManager(lifecycle.Deps{DB: b.pg.DB, Redis: b.rdb.Client})})
	require.NoError(t, err)
	base := startServer(t, ops.Options{Redis: b.rdb.Client, RedisURL: b.rdb.URL, PingDB: ops.PingGorm(b.pg.DB),
		Gatherer: metrics.New().Registry, Console: console})

	r := send(t, http.MethodPost, base+"/api/apps/"+a.Slug+"/enable", nil, "")
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	require.ElementsMatch(t, []string{"issue.created", "error.created"}, b.appEvents(t, a.ID))
	r = send(t, http.MethodPost, base+"/api/apps/"+a.Slug+"/enable", nil, "")
	require.Equal(t, http.StatusConflict, r.code, r.body)

	var d ops.AppDetail
	r = get(t, base+"/api/apps/"+a.Slug, "")
	require.NoError(t, json.Unmarshal([]byte(r.body), &d))
	require.True(t, d.Enabled)
	require.Zero(t, d.Days[6].Timeout, "the counters were cleared")
	require.NotEmpty(t, d.History)
	require.Equal(t, "enabled", d.History[0].Label)
	require.Equal(t, models.AuditInternalIntegrationEnabled, d.History[0].Event)
	require.Equal(t, http.StatusNoContent, send(t, http.MethodPost, base+"/api/apps/"+a.Slug+"/breaker/clear", nil, "").code)
	require.Equal(t, http.StatusBadRequest, send(t, http.MethodPost, base+"/api/apps/"+a.Slug+"/enable", nil, `{"events":["nope.nope"]}`).code)
}
