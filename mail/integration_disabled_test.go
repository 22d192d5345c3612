package mail

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testIntegration() DisabledIntegration {
	return DisabledIntegration{
		AppName:    "my-app2go",
		AppSlug:    "my-app2go-3f2a",
		WebhookURL: "https://hooks.example.net/sentry",
		OrgSlug:    "acme",
		BaseURL:    "https://sentry.example.com",
	}
}

const (
	wantSettingsURL  = "https://sentry.example.com/settings/acme/developer-settings/my-app2go-3f2a/?referrer=disabled-sentry-app"
	wantDashboardURL = "https://sentry.example.com/settings/acme/developer-settings/my-app2go-3f2a/dashboard/?referrer=disabled-sentry-app"
)

func TestBuildDisabledIntegration(t *testing.T) {
	m, err := BuildDisabledIntegration("owner@example.com", testIntegration())
	require.NoError(t, err)
	require.NoError(t, m.Validate())

	assert.Equal(t, "owner@example.com", m.To)
	assert.Equal(t, "Action required: Fix your My-App2Go integration", m.Subject)
	assert.Equal(t, map[string]string{"X-Hookworker-Template": "integration-disabled"}, m.Headers)

	for name, body := range map[string]string{"text": m.Text, "html": m.HTML} {
		assert.Contains(t, body, wantSettingsURL, name)
		assert.Contains(t, body, wantDashboardURL, name)
		assert.Contains(t, body, "https://hooks.example.net/sentry", name)
		assert.Contains(t, body, "My-App2Go", name)
		assert.Contains(t, body, "unsubscribed from all events", name)
		assert.Contains(t, body, "owner of the", name)
		assert.Contains(t, body, "acme", name)
		assert.Contains(t, body, "repeated request errors", name)
	}
	assert.Contains(t, m.HTML, `<a href="`+wantSettingsURL+`">`)
	assert.Contains(t, m.HTML, `<a href="`+wantDashboardURL+`">`)
	assert.NotContains(t, m.Text, "<", "text body must be plain text")
}

func TestBuildDisabledIntegrationTrailingSlashAndFallbackName(t *testing.T) {
	d := testIntegration()
	d.BaseURL = "https://sentry.example.com/"
	d.AppName = ""
	m, err := BuildDisabledIntegration("owner@example.com", d)
	require.NoError(t, err)
	assert.Equal(t, "Action required: Fix your My-App2Go-3F2A integration", m.Subject)
	assert.Contains(t, m.Text, wantSettingsURL)
}

func TestBuildDisabledIntegrationEscapesHTML(t *testing.T) {
	const (
		hostileName    = `<script>alert("x")</script> & 'co'`
		hostileWebhook = `https://evil.example/?a=<script>&b="q"&c='r'`
	)
	d := testIntegration()
	d.AppName = hostileName
	d.WebhookURL = hostileWebhook
	m, err := BuildDisabledIntegration("owner@example.com", d)
	require.NoError(t, err)

	titled := Title(hostileName) // <Script>Alert("X")</Script> & 'Co'
	assert.Equal(t, "Action required: Fix your "+titled+" integration", m.Subject)

	for _, raw := range []string{"<script>", "<Script>", "</Script>", hostileWebhook, titled, `"q"`, `'r'`, `& 'Co'`} {
		assert.NotContains(t, m.HTML, raw)
	}
	assert.Contains(t, m.HTML, "&lt;Script&gt;Alert(&#34;X&#34;)&lt;/Script&gt; &amp; &#39;Co&#39;")
	assert.Contains(t, m.HTML, "https://evil.example/?a=&lt;script&gt;&amp;b=&#34;q&#34;&amp;c=&#39;r&#39;")

	// The text body is plain text and keeps the values as they are.
	assert.Contains(t, m.Text, hostileWebhook)
	assert.Contains(t, m.Text, titled)
}

func TestBuildDisabledIntegrationSubjectIsOneLine(t *testing.T) {
	d := testIntegration()
	d.AppName = "evil\r\nBcc: victim@example.com"
	m, err := BuildDisabledIntegration("owner@example.com", d)
	require.NoError(t, err)
	assert.NotContains(t, m.Subject, "\n")
	assert.NotContains(t, m.Subject, "\r")
}

func TestBuildDisabledIntegrationErrors(t *testing.T) {
	tests := []struct {
		name    string
		to      string
		mutate  func(d *DisabledIntegration)
		wantErr string
	}{
		{"bad recipient", "nobody", func(*DisabledIntegration) {}, "not one valid address"},
		{"no app slug", "owner@example.com", func(d *DisabledIntegration) { d.AppSlug = "" }, "app slug is empty"},
		{"no org slug", "owner@example.com", func(d *DisabledIntegration) { d.OrgSlug = "" }, "organization slug is empty"},
		{"no webhook", "owner@example.com", func(d *DisabledIntegration) { d.WebhookURL = "" }, "webhook URL is empty"},
		{"no base URL", "owner@example.com", func(d *DisabledIntegration) { d.BaseURL = "" }, "is not an absolute http(s) URL"},
		{"javascript base URL", "owner@example.com", func(d *DisabledIntegration) { d.BaseURL = "javascript:alert(1)" }, "is not an absolute http(s) URL"},
		{"relative base URL", "owner@example.com", func(d *DisabledIntegration) { d.BaseURL = "/sentry" }, "is not an absolute http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := testIntegration()
			tc.mutate(&d)
			_, err := BuildDisabledIntegration(tc.to, d)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidMessage)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestBuildDisabledIntegrationEscapesSlugsInLinks(t *testing.T) {
	d := testIntegration()
	d.OrgSlug = "../admin"
	m, err := BuildDisabledIntegration("owner@example.com", d)
	require.NoError(t, err)
	assert.Contains(t, m.Text, "/settings/..%2Fadmin/developer-settings/")
	assert.False(t, strings.Contains(m.Text, "/settings/../admin/"))
}
