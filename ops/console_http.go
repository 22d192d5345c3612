package ops

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/hookworker/hookworker/event"
	"github.com/hookworker/hookworker/lifecycle"
)

//go:embed templates/*.html
var templateFS embed.FS

// consoleHandlers serves the integration console's pages and its JSON API.
// Every page has one view method on Console; the page renders its struct
// and the API encodes the same struct.
type consoleHandlers struct {
	console  *Console
	readOnly bool
	csrf     csrf
	pages    *template.Template
	log      *zap.Logger
}

func newConsoleHandlers(c *Console, readOnly bool, basicAuth string, log *zap.Logger) (*consoleHandlers, error) {
	pages, err := template.New("").Funcs(template.FuncMap{
		"chart": makeChart,
		"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"pageURL": func(page, perPage int) string {
			return "?" + url.Values{"page": {strconv.Itoa(page)}, "perPage": {strconv.Itoa(perPage)}}.Encode()
		},
		"add":       func(a, b int) int { return a + b },
		"isFailure": func(code int) bool { return code >= 400 || code == 0 },
		"json": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ops: console templates: %w", err)
	}
	return &consoleHandlers{console: c, readOnly: readOnly, csrf: newCSRF(basicAuth), pages: pages, log: log}, nil
}

// mount adds the console's routes to mux, each behind auth.
func (h *consoleHandlers) mount(mux *http.ServeMux, auth basicAuth) {
	mux.Handle("GET /apps", http.RedirectHandler("/apps/", http.StatusMovedPermanently))
	mux.Handle("GET /apps/{$}", auth.wrap(http.HandlerFunc(h.appsPage)))
	mux.Handle("GET /apps/{slug}/{$}", auth.wrap(http.HandlerFunc(h.appPage)))
	mux.Handle("POST /apps/{slug}/enable", auth.wrap(h.form(h.enable)))
	mux.Handle("POST /apps/{slug}/breaker/clear", auth.wrap(h.form(h.clear)))
	mux.Handle("GET /api/apps", auth.wrap(http.HandlerFunc(h.apiApps)))
	mux.Handle("GET /api/apps/{slug}", auth.wrap(http.HandlerFunc(h.apiApp)))
	mux.Handle("GET /api/apps/{slug}/requests", auth.wrap(http.HandlerFunc(h.apiRequests)))
	mux.Handle("POST /api/apps/{slug}/enable", auth.wrap(h.api(h.enable)))
	mux.Handle("POST /api/apps/{slug}/breaker/clear", auth.wrap(h.api(h.clear)))
}

// actionsOn reports whether the actions are offered: not read-only, and
// wired to an implementation.
func (h *consoleHandlers) actionsOn() bool {
	return !h.readOnly && h.console.Integrations() != nil
}

// appsView is what apps.html renders.
type appsView struct {
	AppsPage
	Prev, Next int
}

func (h *consoleHandlers) appsPage(w http.ResponseWriter, r *http.Request) {
	p, err := h.appsFor(r)
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	v := appsView{AppsPage: p}
	if p.Page > 1 {
		v.Prev = p.Page - 1
	}
	if p.Page < p.Pages {
		v.Next = p.Page + 1
	}
	h.render(w, "apps.html", v)
}

func (h *consoleHandlers) apiApps(w http.ResponseWriter, r *http.Request) {
	p, err := h.appsFor(r)
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *consoleHandlers) appsFor(r *http.Request) (AppsPage, error) {
	page, perPage := 1, 0
	for _, p := range []struct {
		name string
		dst  *int
	}{{"page", &page}, {"perPage", &perPage}} {
		if s := r.URL.Query().Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return AppsPage{}, &BadRequestError{Detail: p.name + " must be an integer."}
			}
			*p.dst = n
		}
	}
	return h.console.Apps(r.Context(), page, perPage)
}

// appView is what app.html renders.
type appView struct {
	AppDetail
	Actions bool
	CSRF    string
	Done    string
}

func (h *consoleHandlers) appPage(w http.ResponseWriter, r *http.Request) {
	q, err := ParseRequestQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	d, err := h.console.App(r.Context(), r.PathValue("slug"), q)
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	v := appView{AppDetail: d, Actions: h.actionsOn()}
	if v.Actions {
		v.CSRF = h.csrf.token(w, r)
	}
	switch done := r.URL.Query().Get("done"); done {
	case "enabled", "cleared":
		v.Done = done
	}
	h.render(w, "app.html", v)
}

func (h *consoleHandlers) apiApp(w http.ResponseWriter, r *http.Request) {
	q, err := ParseRequestQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	d, err := h.console.App(r.Context(), r.PathValue("slug"), q)
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *consoleHandlers) apiRequests(w http.ResponseWriter, r *http.Request) {
	q, err := ParseRequestQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	reqs, err := h.console.Requests(r.Context(), r.PathValue("slug"), q)
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, reqs)
}

// action is one of the console's state changes; it returns the word the
// page shows once it is done ("enabled", "cleared").
type action func(r *http.Request, slug string, events []string) (string, error)

func (h *consoleHandlers) enable(r *http.Request, slug string, events []string) (string, error) {
	return "enabled", h.console.Integrations().Enable(r.Context(), slug, events)
}

func (h *consoleHandlers) clear(r *http.Request, slug string, _ []string) (string, error) {
	return "cleared", h.console.Integrations().ClearBreaker(r.Context(), slug)
}

// errReadOnly and errNotWired refuse an action.
var (
	errReadOnly = errors.New("the console is read-only (OPS_READ_ONLY=true)")
	errNotWired = errors.New("this process cannot change integrations")
)

// precheck refuses an action under read-only, without an implementation,
// or for an unknown app.
func (h *consoleHandlers) precheck(r *http.Request, slug string) error {
	if h.readOnly {
		return errReadOnly
	}
	if h.console.Integrations() == nil {
		return errNotWired
	}
	return h.console.Lookup(r.Context(), slug)
}

// form runs an action posted by a page's form (CSRF token required) and
// sends the browser back to the app's page.
func (h *consoleHandlers) form(a action) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		slug := r.PathValue("slug")
		if err := h.precheck(r, slug); err != nil {
			h.fail(w, r, err, false)
			return
		}
		if !h.csrf.valid(r) {
			http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		done, err := a(r, slug, nil)
		if err != nil {
			h.fail(w, r, err, false)
			return
		}
		h.log.Info("ops.console_action", zap.String("action", done), zap.String("sentry_app_slug", slug))
		http.Redirect(w, r, "/apps/"+url.PathEscape(slug)+"/?done="+done, http.StatusSeeOther)
	})
}

// api runs an action posted to the JSON API: 204 when done. The enable
// body may be {"events": ["issue.created", …]} to override the events
// recorded at disable.
func (h *consoleHandlers) api(a action) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug := r.PathValue("slug")
		if err := h.precheck(r, slug); err != nil {
			h.fail(w, r, err, true)
			return
		}
		var body struct {
			Events []string `json:"events"`
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			h.fail(w, r, &BadRequestError{Detail: "body too large"}, true)
			return
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				h.fail(w, r, &BadRequestError{Detail: "body: want {\"events\": [\"issue.created\", …]}"}, true)
				return
			}
			for _, e := range body.Events {
				if !slices.Contains(event.Valid(), e) {
					h.fail(w, r, &BadRequestError{Detail: invalidEventMessage}, true)
					return
				}
			}
		}
		done, err := a(r, slug, body.Events)
		if err != nil {
			h.fail(w, r, err, true)
			return
		}
		h.log.Info("ops.console_action", zap.String("action", done), zap.String("sentry_app_slug", slug))
		w.WriteHeader(http.StatusNoContent)
	})
}

// fail answers an error: as {"detail": …} for the API, as text for pages.
func (h *consoleHandlers) fail(w http.ResponseWriter, r *http.Request, err error, api bool) {
	code, msg := http.StatusInternalServerError, "internal error"
	var bad *BadRequestError
	switch {
	case errors.As(err, &bad):
		code, msg = http.StatusBadRequest, bad.Detail
	case errors.Is(err, lifecycle.ErrNotFound):
		code, msg = http.StatusNotFound, "App not found."
	case errors.Is(err, lifecycle.ErrAlreadyEnabled):
		code, msg = http.StatusConflict, "App is already enabled."
	case errors.Is(err, lifecycle.ErrInvalidEvent), errors.Is(err, lifecycle.ErrNoEvents):
		code, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, errReadOnly):
		code, msg = http.StatusMethodNotAllowed, err.Error()
		w.Header().Set("Allow", "GET, HEAD")
	case errors.Is(err, errNotWired):
		code, msg = http.StatusServiceUnavailable, err.Error()
	default:
		h.log.Error("ops.console_failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	if api {
		writeJSON(w, code, map[string]string{"detail": msg})
		return
	}
	http.Error(w, msg, code)
}

func (h *consoleHandlers) render(w http.ResponseWriter, name string, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
	if err := h.pages.ExecuteTemplate(w, name, v); err != nil {
		h.log.Error("ops.render_failed", zap.String("page", name), zap.Error(err))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away
}

// Chart geometry: one stacked bar per day.
const (
	chartBarW   = 14
	chartGap    = 4
	chartHeight = 40
)

// chartSegment is one coloured part of a day's bar.
type chartSegment struct {
	Y, H  int
	Class string
}

// chartBar is one day.
type chartBar struct {
	X        int
	Title    string
	Segments []chartSegment
}

// chart is an inline SVG of a window's counters: per day, successes,
// errors and timeouts stacked, scaled to the busiest day.
type chart struct {
	W, H  int
	Bars  []chartBar
	Empty bool
}

func makeChart(days []DayCount) chart {
	c := chart{W: len(days)*(chartBarW+chartGap) - chartGap, H: chartHeight, Empty: true}
	var top int64
	for _, d := range days {
		top = max(top, d.Success+d.Error+d.Timeout)
	}
	for i, d := range days {
		b := chartBar{X: i * (chartBarW + chartGap),
			Title: fmt.Sprintf("%s: %d success, %d error, %d timeout", d.Date, d.Success, d.Error, d.Timeout)}
		y := chartHeight
		for _, s := range []struct {
			n     int64
			class string
		}{{d.Success, "ok"}, {d.Error, "err"}, {d.Timeout, "timeout"}} {
			if s.n == 0 {
				continue
			}
			c.Empty = false
			h := max(1, int(s.n*(chartHeight-2)/top))
			y -= h
			b.Segments = append(b.Segments, chartSegment{Y: y, H: h, Class: s.class})
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}
