package mail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testFrom = "Hookworker <noreply@hookworker.test>"

// parsedMail is a received message split into what the tests look at.
type parsedMail struct {
	Header  netmail.Header
	Subject string
	Parts   map[string]string // media type -> decoded body, LF line endings
}

// parseMail parses raw as a multipart/alternative message.
func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)

	parts := map[string]string{}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		partType, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		parts[partType] = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
	return parsedMail{Header: msg.Header, Subject: subject, Parts: parts}
}

func newTestSender(t *testing.T, rawURL string, opts ...Option) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(rawURL, testFrom, opts...)
	require.NoError(t, err)
	return s
}

func TestSMTPSenderDeliversMessage(t *testing.T) {
	backend := &testBackend{}
	port := startTestServer(t, backend, serverOptions{})
	sender := newTestSender(t, smtpURL("smtp", "", port))

	d := testIntegration()
	d.AppName = "ÄBC déf"
	m, err := BuildDisabledIntegration("Jane Owner <owner@example.com>", d)
	require.NoError(t, err)
	m.Headers["X-Custom"] = "custom value"

	require.NoError(t, sender.Send(context.Background(), m))

	got := backend.messages()
	require.Len(t, got, 1)
	assert.Equal(t, "noreply@hookworker.test", got[0].From)
	assert.Equal(t, []string{"owner@example.com"}, got[0].To)
	assert.False(t, got[0].TLS)

	p := parseMail(t, got[0].Data)
	from, err := netmail.ParseAddress(p.Header.Get("From"))
	require.NoError(t, err)
	assert.Equal(t, "noreply@hookworker.test", from.Address)
	assert.Equal(t, "Hookworker", from.Name)
	to, err := netmail.ParseAddress(p.Header.Get("To"))
	require.NoError(t, err)
	assert.Equal(t, "owner@example.com", to.Address)
	assert.Equal(t, "Action required: Fix your Äbc Déf integration", p.Subject)
	assert.Equal(t, "integration-disabled", p.Header.Get("X-Hookworker-Template"))
	assert.Equal(t, "custom value", p.Header.Get("X-Custom"))
	assert.NotEmpty(t, p.Header.Get("Message-Id"))
	assert.NotEmpty(t, p.Header.Get("Date"))

	require.Contains(t, p.Parts, "text/plain")
	require.Contains(t, p.Parts, "text/html")
	assert.Equal(t, m.Text, p.Parts["text/plain"])
	assert.Equal(t, m.HTML, p.Parts["text/html"])
	assert.Contains(t, p.Parts["text/plain"], wantSettingsURL)
	assert.Contains(t, p.Parts["text/html"], wantDashboardURL)
}

func TestSMTPSenderSingleBody(t *testing.T) {
	backend := &testBackend{}
	port := startTestServer(t, backend, serverOptions{})
	sender := newTestSender(t, smtpURL("smtp", "", port))

	require.NoError(t, sender.Send(context.Background(), Message{To: "a@example.com", Subject: "only html", HTML: "<p>hi</p>"}))
	got := backend.messages()
	require.Len(t, got, 1)
	msg, err := netmail.ReadMessage(bytes.NewReader(got[0].Data))
	require.NoError(t, err)
	mediaType, _, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "text/html", mediaType)
}

func TestSMTPSenderRejectedRecipient(t *testing.T) {
	backend := &testBackend{rejects: map[string]*smtp.SMTPError{
		"gone@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox gone@example.com does not exist"},
		"busy@example.com": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted, try again later"},
	}}
	port := startTestServer(t, backend, serverOptions{})
	sender := newTestSender(t, smtpURL("smtp", "", port))
	m := validMessage()

	m.To = "gone@example.com"
	err := sender.Send(context.Background(), m)
	require.Error(t, err)
	assert.True(t, IsPermanent(err), "550 must be permanent: %v", err)
	assert.Contains(t, err.Error(), "550")
	assert.Contains(t, err.Error(), "mailbox gone@example.com does not exist")

	m.To = "busy@example.com"
	err = sender.Send(context.Background(), m)
	require.Error(t, err)
	assert.False(t, IsPermanent(err), "451 must be transient: %v", err)
	assert.Contains(t, err.Error(), "greylisted, try again later")

	assert.Empty(t, backend.messages())
}

func TestSMTPSenderConnectionRefused(t *testing.T) {
	port := closedPort(t)
	sender := newTestSender(t, smtpURL("smtp", "user:s3cr3t-pw", port))
	err := sender.Send(context.Background(), validMessage())
	require.Error(t, err)
	assert.False(t, IsPermanent(err), "connection errors are transient: %v", err)
	assert.Contains(t, err.Error(), "127.0.0.1")
	assert.NotContains(t, err.Error(), "s3cr3t-pw")
}

func TestSMTPSenderAuth(t *testing.T) {
	backend := &testBackend{user: "mailer", password: "p@ss:w/rd?"}
	port := startTestServer(t, backend, serverOptions{})

	// Percent-encoded in the URL, decoded for AUTH.
	sender := newTestSender(t, smtpURL("smtp", "mailer:p%40ss%3Aw%2Frd%3F", port))
	require.NoError(t, sender.Send(context.Background(), validMessage()))
	got := backend.messages()
	require.Len(t, got, 1)
	assert.Equal(t, "mailer", got[0].AuthUser)

	// Wrong password: the server's reply echoes it, the error must not.
	const wrong = "wr0ng-Passw0rd"
	sender = newTestSender(t, smtpURL("smtp", "mailer:"+wrong, port))
	err := sender.Send(context.Background(), validMessage())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), wrong)
	assert.Contains(t, err.Error(), "535")
	assert.Contains(t, err.Error(), "authentication failed for mailer")
	assert.True(t, IsPermanent(err), "535 is permanent: %v", err)

	// Without credentials the server refuses MAIL FROM with 530.
	sender = newTestSender(t, smtpURL("smtp", "", port))
	err = sender.Send(context.Background(), validMessage())
	require.Error(t, err)
	assert.True(t, IsPermanent(err), "%v", err)
	assert.Len(t, backend.messages(), 1)
}

func TestSMTPSenderImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	backend := &testBackend{user: "mailer", password: "secret"}
	port := startTestServer(t, backend, serverOptions{implicitTLS: serverTLS})

	sender := newTestSender(t, smtpURL("smtps", "mailer:secret", port), WithTLSConfig(clientTLS))
	require.NoError(t, sender.Send(context.Background(), validMessage()))
	got := backend.messages()
	require.Len(t, got, 1)
	assert.True(t, got[0].TLS)
	assert.Equal(t, "mailer", got[0].AuthUser)

	// The system roots do not trust the test certificate.
	sender = newTestSender(t, smtpURL("smtps", "mailer:secret", port))
	err := sender.Send(context.Background(), validMessage())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
	assert.NotContains(t, err.Error(), "secret")
}

func TestSMTPSenderStartTLS(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	backend := &testBackend{}
	port := startTestServer(t, backend, serverOptions{startTLS: serverTLS})

	sender := newTestSender(t, smtpURL("smtp", "", port), WithTLSConfig(clientTLS))
	require.NoError(t, sender.Send(context.Background(), validMessage()))
	got := backend.messages()
	require.Len(t, got, 1)
	assert.True(t, got[0].TLS, "STARTTLS must be used when offered")
}

func TestSMTPSenderContextCanceled(t *testing.T) {
	// A server that accepts the connection and never greets: only the
	// context can end the attempt (the per-step timeout is far away).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
		cancel()
	}()

	sender := newTestSender(t, smtpURL("smtp", "", l.Addr().(*net.TCPAddr).Port), WithTimeout(time.Hour))
	err = sender.Send(ctx, validMessage())
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, IsPermanent(err))
	if c, ok := <-accepted; ok {
		_ = c.Close()
	}
}

func TestSMTPSenderContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sender := newTestSender(t, smtpURL("smtp", "", closedPort(t)))
	err := sender.Send(ctx, validMessage())
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, IsPermanent(err))
}

func TestSMTPSenderInvalidMessage(t *testing.T) {
	sender := newTestSender(t, smtpURL("smtp", "", closedPort(t)))
	err := sender.Send(context.Background(), Message{To: "owner@example.com"})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidMessage)
	assert.True(t, IsPermanent(err))
}

func TestNewSMTPSender(t *testing.T) {
	tests := []struct {
		url      string
		wantAddr string
		implicit bool
		user     string
		password string
	}{
		{"smtp://mail.example.com", "mail.example.com:25", false, "", ""},
		{"smtps://mail.example.com", "mail.example.com:465", true, "", ""},
		{"SMTP://mail.example.com:1025/", "mail.example.com:1025", false, "", ""},
		{"smtp://u%40x:p%2Fw%3F@[::1]:2525", "[::1]:2525", false, "u@x", "p/w?"},
		{"smtps://user@mail.example.com:587", "mail.example.com:587", true, "user", ""},
		{"  smtp://user:pass@localhost:1025  ", "localhost:1025", false, "user", "pass"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			s, err := NewSMTPSender(tc.url, "noreply@example.com")
			require.NoError(t, err)
			assert.Equal(t, tc.wantAddr, s.Addr())
			assert.Equal(t, tc.implicit, s.implicit)
			assert.Equal(t, tc.user, s.user)
			assert.Equal(t, tc.password, s.password)
			assert.Equal(t, DefaultTimeout, s.timeout)
		})
	}

	s, err := NewSMTPSender("smtp://localhost", "noreply@example.com", WithTimeout(3*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, s.timeout)
}

func TestNewSMTPSenderErrors(t *testing.T) {
	const pw = "Sup3rS3cret"
	tests := []struct {
		url     string
		from    string
		wantErr string
	}{
		{"http://user:" + pw + "@mail.example.com", "a@example.com", `unsupported SMTP URL scheme "http"`},
		{"ftp://mail.example.com", "a@example.com", `unsupported SMTP URL scheme "ftp"`},
		{"mail.example.com:25", "a@example.com", `unsupported SMTP URL scheme "mail.example.com"`},
		{"mail.example.com", "a@example.com", "no scheme"},
		{"smtp://user:" + pw + "@", "a@example.com", "no host"},
		{"smtp://user:" + pw + "@mail.example.com:99999", "a@example.com", `port "99999"`},
		{"smtp://user:" + pw + "@mail.example.com:abc", "a@example.com", "details withheld"},
		{"smtp://user:" + pw + "%zz@mail.example.com", "a@example.com", "details withheld"},
		{"smtp://user:Sup3r#S3cret@mail.example.com", "a@example.com", "details withheld"},
		{"smtp://user:2525#S3cret@mail.example.com", "a@example.com", "nothing after the port"},
		{"smtp://user:2525?S3cret@mail.example.com", "a@example.com", "nothing after the port"},
		{"smtp://user:Sup3r?S3cret@mail.example.com", "a@example.com", "details withheld"},
		{"smtp://user:Sup3r/S3cret@mail.example.com", "a@example.com", "details withheld"},
		{"smtp://mail.example.com/path", "a@example.com", "nothing after the port"},
		{"smtp://:" + pw + "@mail.example.com", "a@example.com", "password but no user name"},
		{"smtp://user:" + pw + "@mail.example.com", "", "MAIL_FROM"},
		{"smtp://user:" + pw + "@mail.example.com", "not an address", "MAIL_FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := NewSMTPSender(tc.url, tc.from)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			for _, secret := range []string{pw, "Sup3r", "S3cret"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}
