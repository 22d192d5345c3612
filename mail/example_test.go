package mail_test

import (
	"fmt"

	"github.com/hookworker/hookworker/mail"
)

func ExampleBuildDisabledIntegration() {
	m, err := mail.BuildDisabledIntegration("owner@example.com", mail.DisabledIntegration{
		AppName:    "my-app2go",
		AppSlug:    "my-app2go",
		WebhookURL: "https://hooks.example.net/sentry",
		OrgSlug:    "acme",
		BaseURL:    "https://sentry.example.com",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Subject)
	// Output: Action required: Fix your My-App2Go integration
}

func ExampleTitle() {
	fmt.Println(mail.Title("my-app2go"), mail.Title("o'neil"))
	// Output: My-App2Go O'Neil
}
