package ops_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/models"
)

// TestConsoleWith10000Apps measures /apps/ with 10,000 apps installed in
// 10,000 organizations, 2,000 of them with breaker counters on all 7 days,
// and logs the render times (median of 5). The whole list is ordered on
// every request, so a later page costs what the first does. It asserts on
// the CPU this process spends a request, which a busy machine changes less
// than the wall time.
func TestConsoleWith10000Apps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: seeds 10,000 apps")
	}
	if raceOn {
		t.Skip("-race slows the server tenfold: a render time measured under it means nothing")
	}
	t.Parallel()
	b := setupConsole(t, nil)
	const n = 10_000
	db := b.pg.DB
	orgs := make([]models.Organization, n)
	for i := range orgs {
		orgs[i] = models.Organization{Slug: fmt.Sprintf("scale-org-%05d", i), Name: fmt.Sprintf("Scale org %d", i)}
	}
	require.NoError(t, db.CreateInBatches(orgs, 1000).Error)
	apps := make([]models.SentryApp, n)
	for i := range apps {
		url := "https://receiver.example/" + fmt.Sprint(i)
		events := models.StringList{"issue.created"}
		if i%500 == 0 {
			events = models.StringList{}
		}
		apps[i] = models.SentryApp{UUID: fmt.Sprint(i), Slug: fmt.Sprintf("scale-app-%05d", i), Name: fmt.Sprintf("Scale app %05d", i),
			Status: models.AppInternal, WebhookURL: &url, Events: events, OwnerID: orgs[i].ID}
	}
	require.NoError(t, db.CreateInBatches(apps, 1000).Error)
	insts := make([]models.SentryAppInstallation, n)
	for i := range insts {
		insts[i] = models.SentryAppInstallation{UUID: fmt.Sprint(i), SentryAppID: apps[i].ID, OrganizationID: orgs[i].ID, Status: models.InstallationInstalled}
	}
	require.NoError(t, db.CreateInBatches(insts, 1000).Error)
	pipe := b.rdb.Client.Pipeline()
	for i := 0; i < n; i += 5 {
		for day := range 7 {
			pipe.HSet(t.Context(), breaker.Key(apps[i].ID, orgs[i].ID, b.now.AddDate(0, 0, -day)), "success_count", 10, "error_count", i%3)
		}
	}
	_, err := pipe.Exec(t.Context())
	require.NoError(t, err)

	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var cpuUsed time.Duration
	measure := func(path string) time.Duration {
		var times []time.Duration
		for range 5 {
			c0 := cpu()
			start := time.Now()
			r := get(t, b.base+path, "")
			times = append(times, time.Since(start))
			cpuUsed += cpu() - c0
			require.Equal(t, http.StatusOK, r.code, r.body)
			if strings.HasPrefix(path, "/apps/") {
				require.Contains(t, r.body, "10000 apps")
			}
		}
		slices.Sort(times)
		return times[len(times)/2]
	}
	first, last, api := measure("/apps/"), measure("/apps/?page=200"), measure("/api/apps")
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("10,000 apps: GET /apps/ %v, GET /apps/?page=200 %v, GET /api/apps %v (median wall time of 5, 50 apps a page); "+
		"this process's CPU %v a request on average (client and server); load average %s",
		first, last, api, cpuUsed/15, strings.Fields(string(load))[0])
	// Wall time depends on what else the machine runs (Redis and
	// PostgreSQL included); the CPU this process spends a request does not
	// much, so that is what must stay small.
	require.Less(t, cpuUsed/15, time.Second, "CPU a request with 10,000 apps")
	require.Less(t, first, 30*time.Second, "the first page of 10,000 apps")
	require.Contains(t, get(t, b.base+"/apps/", "").body, `data-slug="scale-app-00000"`, "disabled apps first")
}
