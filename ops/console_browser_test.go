package ops_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/models"
	"github.com/hookworker/hookworker/requestlog"
)

// TestConsoleInChromium is the operator's path in a real browser: /apps/
// shows the failing, disabled app first with its chart; its page filtered
// to errors only shows just the failures; a click on Re-enable (a form post
// with its CSRF token) enables it; and a page on another origin that posts
// to the console is refused and changes nothing. Screenshots are saved and
// their paths logged.
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	br := startBrowser(t)
	b := setupConsole(t, nil)
	dir := artifactDir(t)

	bad := b.seedApp(t, "Pager Bridge", models.AppInternal, 1)
	other := b.seedApp(t, "Quiet Mirror", models.AppInternal, 0)
	victim := b.seedApp(t, "Victim App", models.AppInternal, 0)
	b.seedApp(t, "Zebra Healthy", models.AppInternal, 0)
	for day := 6; day >= 0; day-- {
		b.count(t, bad.ID, bad.Orgs[0].ID, day, "error_count", int64(3+day))
		b.count(t, bad.ID, bad.Orgs[1].ID, day, "success_count", int64(2*day))
		b.count(t, other.ID, other.OwnerID, day, "success_count", 20)
	}
	b.count(t, bad.ID, bad.Orgs[1].ID, 1, "timeout_count", 4)
	b.disable(t, bad, b.now.Add(-90*time.Minute))
	b.disable(t, victim, b.now.Add(-time.Hour))
	for i := range 6 {
		code := []int{200, 404, 201, 0, 200, 410}[i]
		b.logRequest(t, bad.ID, "issue.created", requestlog.Attempt{Time: b.now.Add(time.Duration(i-60) * time.Minute), ResponseCode: code,
			Internal: true, RequestBody: []byte(`{"action":"created","data":{"issue":{"id":"` + fmt.Sprint(i) + `"}}}`),
			ResponseBody: []byte(`{"detail":"unknown installation"}`)})
	}

	// /apps/: the disabled failing app first, with its chart.
	br.open(b.base+"/apps/", "document.querySelector('#apps tbody tr')")
	first := br.eval(`document.querySelector('#apps tbody tr.app').dataset.slug`)
	require.Contains(t, []any{bad.Slug, victim.Slug}, first, "disabled apps come first")
	row := fmt.Sprintf(`document.querySelector('tr[data-slug=%q]')`, bad.Slug)
	require.Equal(t, true, br.eval(row+`.innerText.includes('disabled since')`))
	require.EqualValues(t, 7, br.eval(row+`.querySelectorAll('svg.chart g').length`), "one bar a day")
	require.Equal(t, true, br.eval(row+`.querySelectorAll('svg.chart rect.err').length === 7`), "errors every day")
	require.Equal(t, true, br.eval(row+`.querySelector('svg.chart rect.err').getBoundingClientRect().height > 0`), "the chart is drawn")
	require.Equal(t, true, br.eval(row+`.innerText.includes('410')`), "last failed request")
	t.Logf("screenshot: %s", br.screenshot(dir, "apps.png"))

	// /apps/{slug}/ filtered to errors only, through the page's own form.
	page := b.base + "/apps/" + bad.Slug + "/"
	br.open(page, "document.querySelector('#filter')")
	require.EqualValues(t, 6, br.eval(`document.querySelectorAll('#requests tr.request').length`))
	br.click(`#filter input[name=errorsOnly]`)
	br.click(`#filter button[type=submit]`)
	br.waitFor(`location.search.includes('errorsOnly=true')`)
	require.EqualValues(t, 3, br.eval(`document.querySelectorAll('#requests tr.request').length`), "404, 0 and 410")
	require.EqualValues(t, 3, br.eval(`document.querySelectorAll('#requests tr.request.failure').length`))
	require.Equal(t, "410 0 404", br.eval(`[...document.querySelectorAll('#requests td.code')].map(e => e.innerText.trim()).join(' ')`))
	br.click(`#requests tr.failure details summary`)
	require.Equal(t, true, br.eval(`document.querySelector('#requests details').open && document.querySelector('#requests details').innerText.includes('unknown installation')`))
	t.Logf("screenshot: %s", br.screenshot(dir, "app-errors-only.png"))

	// Re-enable, clicked.
	require.Empty(t, b.appEvents(t, bad.ID))
	br.click(`#reenable button`)
	br.waitFor(`location.search.includes('done=enabled')`)
	require.Equal(t, "enabled", br.eval(`document.querySelector('#state').innerText`))
	require.Equal(t, []string{"issue.created", "error.created"}, b.appEvents(t, bad.ID), "the events recorded at disable are back")
	require.Equal(t, false, br.eval(`!!document.querySelector('#reenable')`), "no Re-enable button on an enabled app")
	t.Logf("screenshot: %s", br.screenshot(dir, "app-reenabled.png"))

	// Another origin (same host, another port: same-site, cross-origin)
	// posts to the API, which takes no token: the origin check refuses it.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/api/apps/%s/enable"><input name="x" value="1"></form>
			<script>document.getElementById('f').submit()</script>`, b.base, victim.Slug)
	}))
	t.Cleanup(attacker.Close)
	br.call("Page.navigate", map[string]any{"url": attacker.URL + "/"}, nil)
	br.waitFor(fmt.Sprintf(`location.href === %q`, b.base+"/api/apps/"+victim.Slug+"/enable"))
	require.Contains(t, br.eval(`document.body.innerText`), "cross-origin request refused")
	t.Logf("screenshot: %s", br.screenshot(dir, "cross-site-refused.png"))
	require.Empty(t, b.appEvents(t, victim.ID), "the cross-site post did not enable the app")
	b.integ.mu.Lock()
	require.NotContains(t, b.integ.calls, "enable "+victim.Slug)
	b.integ.mu.Unlock()
}
