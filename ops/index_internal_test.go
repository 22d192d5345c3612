package ops

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestIndexListsEveryEndpoint: GET / names every endpoint the server serves.
func TestIndexListsEveryEndpoint(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	index(false)(rec, httptest.NewRequest("GET", "/", nil))
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/monitoring/", "/debug/pprof/"} {
		if !strings.Contains(rec.Body.String(), p) {
			t.Errorf("GET / does not list %s:\n%s", p, rec.Body.String())
		}
	}
}
