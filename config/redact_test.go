package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		// Userinfo: the password always; a lone user name (a token) too.
		{"https://ghp_R4nd0mT0k3nV4lu3Xy9Zq@hooks.example.com/h", "https://xxxxx@hooks.example.com/h"},
		{"https://apikey@hooks.example.com/h", "https://xxxxx@hooks.example.com/h"},
		{"https://user:pw@hooks.example.com/h", "https://user:xxxxx@hooks.example.com/h"},
		{"https://Zx9Qk2Lm7Pw4Rt8Vb3Nc:pw@h.example/", "https://xxxxx:xxxxx@h.example/"},
		// Query values of secret-looking names, order and other values kept.
		{"https://h.example/hook?token=abc&keep=visible&key=k1&signature=s&sig=s2",
			"https://h.example/hook?token=xxxxx&keep=visible&key=xxxxx&signature=xxxxx&sig=xxxxx"},
		{"https://h.example/?X-Amz-Signature=ab12&X-Amz-Credential=AKIA%2F1&X-Amz-Date=20260101",
			"https://h.example/?X-Amz-Signature=xxxxx&X-Amz-Credential=xxxxx&X-Amz-Date=20260101"},
		{"https://h.example/?access_token=a&api_key=b&apiKey=c&client_secret=d&password=e&auth=f&code=g&page=2",
			"https://h.example/?access_token=xxxxx&api_key=xxxxx&apiKey=xxxxx&client_secret=xxxxx&password=xxxxx&auth=xxxxx&code=xxxxx&page=2"},
		{"https://h.example/?Authorization=Bearer%20x&SESSION_ID=1&author=bob",
			"https://h.example/?Authorization=xxxxx&SESSION_ID=xxxxx&author=bob"},
		// A token-looking value under an innocent name, and a bare token.
		{"https://h.example/?x=Zx9Qk2Lm7Pw4Rt8Vb3Nc6Hy1&n=12", "https://h.example/?x=xxxxx&n=12"},
		{"https://h.example/?Zx9Qk2Lm7Pw4Rt8Vb3Nc6Hy1", "https://h.example/?xxxxx"},
		// Token-looking path segments: Slack, Discord, a UUID, hex.
		{"https://hooks.slack.com/services/T00000000/B00000000/Zx9Qk2Lm7Pw4Rt8Vb3Nc6Hy1",
			"https://hooks.slack.com/services/T00000000/B00000000/xxxxx"},
		{"https://discord.com/api/webhooks/123456789012345678/aB3dE-fG7hI_jK9lM1nO2pQ4rS6tU8vW0xY2zA4bC6dE8fG0hI2jK4lM6nO8pQ0rS2tU4vW6x",
			"https://discord.com/api/webhooks/123456789012345678/xxxxx"},
		{"https://webhook.site/3f1c2a7e-9b4d-4e6f-8a0b-1c2d3e4f5a6b", "https://webhook.site/xxxxx"},
		{"https://h.example/hooks/0123456789abcdef0123456789abcdef/x", "https://h.example/hooks/xxxxx/x"},
		// Words and numbers stay.
		{"https://h.example/sentry/installation-12345678/issue-webhooks-v2", "https://h.example/sentry/installation-12345678/issue-webhooks-v2"},
		{"https://h.example/a/b?page=2&sort=desc#section", "https://h.example/a/b?page=2&sort=desc#section"},
		// A fragment carrying parameters (OAuth implicit flow) or a token.
		{"https://h.example/cb#access_token=abc&x=1", "https://h.example/cb#xxxxx"},
		// Infrastructure URLs, as before.
		{"redis://:hunter2@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"postgres://u:pw@db:5432/x?sslmode=disable&password=p2", "postgres://u:xxxxx@db:5432/x?sslmode=disable&password=xxxxx"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, Redact(tc.in), tc.in)
	}
}

func TestLooksLikeToken(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"Zx9Qk2Lm7Pw4Rt8Vb3Nc6Hy1":             true,
		"0123456789abcdef0123456789abcdef":     true,
		"3f1c2a7e-9b4d-4e6f-8a0b-1c2d3e4f5a6b": true,
		"aGVsbG8gd29ybGQgdGhpcyBpcyBh":         true,
		"ghp_R4nd0mT0k3nV4lu3Xy9Zq":            true,
		"short1A2b":                            false,
		"installation-12345678":                false,
		"issue-webhooks-v2-receiver":           false,
		"123456789012345678":                   false,
		"SentryWebhookReceiver":                false,
		"SentryWebhookReceiver2024":            false,
		"hello world with spaces 1a2b3c4d":     false,
		"":                                     false,
		strings.Repeat("xy", 20):               false, // lower case only
	} {
		require.Equal(t, want, looksLikeToken(s), s)
	}
}
