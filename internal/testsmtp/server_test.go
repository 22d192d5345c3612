package testsmtp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testsmtp"
	"github.com/hookworker/hookworker/mail"
)

const from = "Hookworker <noreply@hookworker.test>"

func testMessage(t *testing.T, to string) mail.Message {
	t.Helper()
	m, err := mail.BuildDisabledIntegration(to, mail.DisabledIntegration{
		AppName: "ÄBC déf", AppSlug: "abc-def", WebhookURL: "https://hooks.example.com/a?b=<c>&d",
		OrgSlug: "acme", BaseURL: "https://sentry.example.com",
	})
	require.NoError(t, err)
	return m
}

func newSender(t *testing.T, url string) *mail.SMTPSender {
	t.Helper()
	s, err := mail.NewSMTPSender(url, from)
	require.NoError(t, err)
	return s
}

func TestServerRecordsParsedMessage(t *testing.T) {
	t.Parallel()
	srv := testsmtp.Start(t)
	require.True(t, strings.HasPrefix(srv.URL(), "smtp://127.0.0.1:"), srv.URL())

	m := testMessage(t, "Owner <owner@example.com>")
	require.NoError(t, newSender(t, srv.URL()).Send(context.Background(), m))

	got := srv.Messages()
	require.Len(t, got, 1)
	require.NoError(t, got[0].ParseErr)
	require.Equal(t, "noreply@hookworker.test", got[0].From)
	require.Equal(t, []string{"owner@example.com"}, got[0].To)
	require.Equal(t, "Action required: Fix your Äbc Déf integration", got[0].Subject)
	require.Equal(t, strings.ReplaceAll(m.Text, "\r\n", "\n"), got[0].Text)
	require.Equal(t, m.HTML, got[0].HTML)
	require.Equal(t, mail.TemplateIntegrationDisabled, got[0].Header.Get(mail.TemplateHeader))
	require.Len(t, srv.To("OWNER@example.com"), 1)
	require.Empty(t, srv.To("other@example.com"))
	require.Equal(t, 1, srv.Attempts())
	require.Equal(t, 1, srv.Count())
}

func TestServerRejects(t *testing.T) {
	t.Parallel()
	srv := testsmtp.Start(t)
	sender := newSender(t, srv.URL())
	ctx := context.Background()

	srv.RejectRecipient("gone@example.com", 550, "mailbox gone@example.com does not exist")
	err := sender.Send(ctx, testMessage(t, "gone@example.com"))
	require.Error(t, err)
	require.True(t, mail.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "mailbox gone@example.com does not exist")
	require.NoError(t, sender.Send(ctx, testMessage(t, "here@example.com")))

	srv.RejectAll(451, "try again later")
	err = sender.Send(ctx, testMessage(t, "here@example.com"))
	require.Error(t, err)
	require.False(t, mail.IsPermanent(err), "%v", err)

	srv.AcceptAll()
	require.NoError(t, sender.Send(ctx, testMessage(t, "gone@example.com")))
	require.Equal(t, 2, srv.Count())
	require.Equal(t, 4, srv.Attempts())
}

func TestReserveAddrThenStartAt(t *testing.T) {
	t.Parallel()
	addr := testsmtp.ReserveAddr(t)
	sender := newSender(t, "smtp://"+addr)
	err := sender.Send(context.Background(), testMessage(t, "owner@example.com"))
	require.Error(t, err, "nothing listens on a reserved address")
	require.False(t, mail.IsPermanent(err), "%v", err)

	srv := testsmtp.StartAt(t, addr)
	require.Equal(t, addr, srv.Addr())
	require.NoError(t, sender.Send(context.Background(), testMessage(t, "owner@example.com")))
	require.Equal(t, 1, srv.Count())
}

// TestServerParsesBase64AndSinglePart sends hand-written messages with
// another SMTP client, to check the parser beyond what go-mail produces.
func TestServerParsesBase64AndSinglePart(t *testing.T) {
	t.Parallel()
	srv := testsmtp.Start(t)
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?q?h=C3=A9llo?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"aMOpbGxv\r\nIHdvcmxk\r\n" +
		"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n--XX--\r\n"
	sendRaw(t, srv.Addr(), "b@example.com", raw)
	sendRaw(t, srv.Addr(), "c@example.com", "From: a@example.com\r\nSubject: plain\r\n\r\njust text\r\n")

	got := srv.Messages()
	require.Len(t, got, 2)
	require.NoError(t, got[0].ParseErr)
	require.Equal(t, "héllo", got[0].Subject)
	require.Equal(t, "héllo world", got[0].Text)
	require.Equal(t, "<p>hi</p>", got[0].HTML)
	require.NoError(t, got[1].ParseErr)
	require.Equal(t, "just text\n", got[1].Text)
	require.Empty(t, got[1].HTML)
}

// sendRaw sends raw to rcpt over plain SMTP with go-smtp's client.
func sendRaw(t *testing.T, addr, rcpt, raw string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SendMail("a@example.com", []string{rcpt}, strings.NewReader(raw)))
	require.NoError(t, c.Quit())
}
