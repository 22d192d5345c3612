package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"unicode"
)

// templateFS holds the e-mail templates, compiled into the binary so that the
// worker needs no files at run time.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

const (
	// TemplateHeader is the header naming the template a message was built
	// from, so that recipients' mail filters and support can recognise it.
	TemplateHeader = "X-Hookworker-Template"
	// TemplateIntegrationDisabled is the TemplateHeader value of the
	// "integration disabled" e-mail.
	TemplateIntegrationDisabled = "integration-disabled"
	// disabledReferrer is appended to the links so that the settings pages
	// can tell the visit came from this e-mail.
	disabledReferrer = "disabled-sentry-app"
)

// DisabledIntegration holds what the "integration disabled" e-mail says: which
// integration (AppName, AppSlug) of which organization (OrgSlug) was
// unsubscribed because of errors from which webhook (WebhookURL), and the
// public base URL of the web application (BaseURL, e.g.
// "https://sentry.example.com") that the links point to. The organization's
// owners each get their own copy.
type DisabledIntegration struct {
	// AppName is the integration's display name; the e-mail shows it cased
	// by Title.
	AppName string
	// AppSlug identifies the integration in the settings URLs.
	AppSlug string
	// WebhookURL is the webhook whose requests kept failing.
	WebhookURL string
	// OrgSlug identifies the organization in the settings URLs.
	OrgSlug string
	// BaseURL is the public http(s) URL of the web application, such as
	// "https://sentry.example.com"; a trailing slash is ignored.
	BaseURL string
}

// disabledIntegrationView is what the templates render.
type disabledIntegrationView struct {
	Name         string
	WebhookURL   string
	OrgSlug      string
	SettingsURL  string
	DashboardURL string
}

// BuildDisabledIntegration renders the "integration disabled" e-mail for one
// owner of the organization, to: the subject "Action required: Fix your
// <Name> integration" (Name is AppName cased by Title, or AppSlug when AppName
// is empty) and text and HTML bodies explaining that the webhook kept failing,
// that the integration was unsubscribed from events, and where to fix and
// re-enable it. Everything in the HTML body is escaped by html/template. The
// message carries the header "X-Hookworker-Template: integration-disabled".
// Errors (missing fields, a base URL that is not http(s), an invalid
// recipient) wrap ErrInvalidMessage.
func BuildDisabledIntegration(to string, d DisabledIntegration) (Message, error) {
	view, err := newDisabledIntegrationView(d)
	if err != nil {
		return Message{}, err
	}
	text, err := renderText("templates/integration_disabled.txt.tmpl", view)
	if err != nil {
		return Message{}, err
	}
	html, err := renderHTML("templates/integration_disabled.html.tmpl", view)
	if err != nil {
		return Message{}, err
	}
	m := Message{
		To:      to,
		Subject: "Action required: Fix your " + view.Name + " integration",
		Text:    text,
		HTML:    html,
		Headers: map[string]string{TemplateHeader: TemplateIntegrationDisabled},
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// newDisabledIntegrationView checks d and derives the name and links.
func newDisabledIntegrationView(d DisabledIntegration) (disabledIntegrationView, error) {
	name := singleLine(d.AppName)
	if name == "" {
		name = singleLine(d.AppSlug)
	}
	switch {
	case d.AppSlug == "":
		return disabledIntegrationView{}, fmt.Errorf("%w: integration disabled e-mail: app slug is empty", ErrInvalidMessage)
	case d.OrgSlug == "":
		return disabledIntegrationView{}, fmt.Errorf("%w: integration disabled e-mail: organization slug is empty", ErrInvalidMessage)
	case strings.TrimSpace(d.WebhookURL) == "":
		return disabledIntegrationView{}, fmt.Errorf("%w: integration disabled e-mail: webhook URL is empty", ErrInvalidMessage)
	}
	base, err := url.Parse(strings.TrimSpace(d.BaseURL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.RawQuery != "" || base.Fragment != "" {
		return disabledIntegrationView{}, fmt.Errorf("%w: integration disabled e-mail: base URL %q is not an absolute http(s) URL without query",
			ErrInvalidMessage, d.BaseURL)
	}
	settings := strings.TrimRight(base.String(), "/") + "/settings/" + url.PathEscape(d.OrgSlug) +
		"/developer-settings/" + url.PathEscape(d.AppSlug) + "/"
	return disabledIntegrationView{
		Name:         Title(name),
		WebhookURL:   d.WebhookURL,
		OrgSlug:      d.OrgSlug,
		SettingsURL:  settings + "?referrer=" + disabledReferrer,
		DashboardURL: settings + "dashboard/?referrer=" + disabledReferrer,
	}, nil
}

// singleLine replaces control characters (such as line breaks, which are not
// allowed in a subject) with spaces and trims the result.
func singleLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// renderText executes the text/template file name with data.
func renderText(name string, data any) (string, error) {
	t, err := texttemplate.ParseFS(templateFS, name)
	if err != nil {
		return "", fmt.Errorf("mail: parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("mail: render template %s: %w", name, err)
	}
	return buf.String(), nil
}

// renderHTML executes the html/template file name with data, escaping every
// value for its context.
func renderHTML(name string, data any) (string, error) {
	t, err := htmltemplate.ParseFS(templateFS, name)
	if err != nil {
		return "", fmt.Errorf("mail: parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("mail: render template %s: %w", name, err)
	}
	return buf.String(), nil
}
