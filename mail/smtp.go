package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout bounds each network step of an SMTP delivery (connecting,
// and then every command and reply) unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// Default ports used when SMTP_URL has none.
const (
	defaultPortSMTP  = 25
	defaultPortSMTPS = 465
)

// redactedPassword replaces the password wherever it could appear in an error.
const redactedPassword = "xxxxx"

// SMTPSender sends messages through an SMTP server with
// github.com/wneessen/go-mail, opening one connection per Send. It is safe
// for concurrent use.
type SMTPSender struct {
	host      string
	port      int
	implicit  bool // smtps://: TLS from the first byte
	user      string
	password  string
	from      string
	timeout   time.Duration
	tlsConfig *tls.Config
}

// Option changes how an SMTPSender connects.
type Option func(*SMTPSender)

// WithTimeout sets how long each network step of a delivery may take
// (DefaultTimeout if not used). Values <= 0 are ignored.
func WithTimeout(d time.Duration) Option {
	return func(s *SMTPSender) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithTLSConfig sets the TLS configuration for smtps:// connections and for
// STARTTLS, e.g. to trust a private CA. It is cloned; when its ServerName is
// empty the host from the URL is used. A nil config is ignored.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(s *SMTPSender) {
		if cfg != nil {
			s.tlsConfig = cfg.Clone()
		}
	}
}

// NewSMTPSender returns an SMTPSender for smtpURL, which is
// "smtp://[user[:password]@]host[:port]" (STARTTLS when the server offers it,
// default port 25) or "smtps://..." (implicit TLS, default port 465). User
// and password are percent-decoded; when a user is given the sender
// authenticates with SMTP AUTH (PLAIN or LOGIN when offered, else the
// strongest mechanism go-mail can discover), which go-mail only allows over
// TLS or to localhost. from is the From address. Errors never contain the
// password.
func NewSMTPSender(smtpURL, from string, opts ...Option) (*SMTPSender, error) {
	s, err := parseSMTPURL(smtpURL)
	if err != nil {
		return nil, err
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: sender address (MAIL_FROM) %q is not a valid address: %v", from, err)
	}
	s.from = from
	s.timeout = DefaultTimeout
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s, nil
}

// parseSMTPURL reads host, port, TLS mode and credentials from raw. Its
// errors never quote raw, which may contain the password.
func parseSMTPURL(raw string) (*SMTPSender, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) && !strings.Contains(raw, "@") {
			return nil, fmt.Errorf("mail: invalid SMTP URL: %v", urlErr.Err)
		}
		// The details could quote part of the credentials.
		return nil, errors.New("mail: invalid SMTP URL (details withheld because it contains credentials; " +
			"percent-encode special characters in the user name and password)")
	}
	s := &SMTPSender{}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		s.port = defaultPortSMTP
	case "smtps":
		s.port = defaultPortSMTPS
		s.implicit = true
	case "":
		return nil, errors.New("mail: SMTP URL has no scheme, want smtp:// or smtps://")
	default:
		return nil, fmt.Errorf("mail: unsupported SMTP URL scheme %q, want smtp or smtps", u.Scheme)
	}
	// A query, fragment or opaque part means the URL was mis-parsed, most
	// likely because of an unescaped '?', '#' or '/' in the password; the
	// host could then be a piece of the password, so name nothing.
	if u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("mail: SMTP URL must be scheme://[user[:password]@]host[:port] with nothing after the port " +
			"(percent-encode special characters in the user name and password)")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("mail: SMTP URL port %q is not a number between 1 and 65535", p)
		}
		s.port = port
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" && s.password != "" {
			return nil, errors.New("mail: SMTP URL has a password but no user name")
		}
	}
	return s, nil
}

// Addr returns the host:port the sender connects to (without credentials),
// for logs.
func (s *SMTPSender) Addr() string {
	return net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// Send delivers m in its own SMTP session. ctx bounds the whole session: the
// connection is closed as soon as ctx is done. Errors include the server's
// reply (for example "550 5.1.1 mailbox unavailable"), wrap ctx.Err() when
// ctx ended the attempt, never contain the password, and are classified by
// IsPermanent.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: send to %s via %s: %w", m.To, s.Addr(), err)
	}
	msg, err := s.newMsg(m)
	if err != nil {
		return s.redact(fmt.Errorf("mail: send to %s: %w", m.To, err))
	}

	// One go-mail client per Send: it keeps per-session state (the chosen
	// AUTH mechanism), and a fresh one makes concurrent sends independent.
	// The dialer is ours so that the connection can be tied to ctx; go-mail
	// itself only uses ctx while connecting.
	// go-mail calls dial synchronously from DialAndSendWithContext, so
	// these need no locking.
	var raw net.Conn
	var stop func() bool
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		conn, tcp, err := s.dial(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		raw = tcp
		// Closing the TCP connection (not the TLS layer, whose close
		// notification could block) aborts whatever step is in progress.
		stop = context.AfterFunc(ctx, func() { _ = tcp.Close() })
		return conn, nil
	}
	client, err := gomail.NewClient(s.host, s.clientOptions(dial)...)
	if err != nil {
		return s.redact(fmt.Errorf("mail: send to %s via %s: %w", m.To, s.Addr(), err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if stop != nil {
		stop()
	}
	if raw != nil {
		// go-mail leaves the connection open when the session fails before
		// sending (greeting, STARTTLS, AUTH); closing twice is harmless.
		_ = raw.Close()
	}
	if err == nil || msg.IsDelivered() {
		// A failure after the server accepted the message (such as QUIT
		// failing because ctx ended) must not cause a retry, which would
		// deliver the e-mail twice.
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return s.redact(fmt.Errorf("mail: send to %s via %s: %w", m.To, s.Addr(), err))
}

// dial opens the TCP connection, with TLS from the start for smtps://, and
// returns the connection for go-mail and the underlying TCP connection. For
// smtps:// the first is the *tls.Conn itself so that go-mail recognises the
// session as encrypted (which PLAIN and LOGIN authentication require).
func (s *SMTPSender) dial(ctx context.Context, network, addr string) (conn, tcp net.Conn, err error) {
	var d net.Dialer
	tcp, err = d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, nil, err
	}
	if !s.implicit {
		return tcp, tcp, nil
	}
	tlsConn := tls.Client(tcp, s.tlsConfigForHost())
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		_ = tcp.Close()
		return nil, nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tlsConn, tcp, nil
}

// tlsConfigForHost returns the TLS configuration to use, with ServerName set.
func (s *SMTPSender) tlsConfigForHost() *tls.Config {
	cfg := &tls.Config{MinVersion: gomail.DefaultTLSMinVersion}
	if s.tlsConfig != nil {
		cfg = s.tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	return cfg
}

// clientOptions configures a go-mail client for one session.
func (s *SMTPSender) clientOptions(dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsConfigForHost()),
	}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		// go-mail's default is mandatory STARTTLS, which fails against
		// plain local catchers such as Mailpit.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts,
			gomail.WithUsername(s.user),
			gomail.WithPassword(s.password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
		)
	}
	return opts
}

// newMsg converts m into a go-mail message.
func (s *SMTPSender) newMsg(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("%w: sender %q: %v", ErrInvalidMessage, s.from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("%w: recipient %q: %v", ErrInvalidMessage, m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	// Sorted so that the header block is the same for the same message.
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		msg.SetGenHeader(gomail.Header(name), m.Headers[name])
	}
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// redact returns err with the password removed from its text, as a safety
// net: the password is never put into errors on purpose, but a server may
// echo what it was sent.
func (s *SMTPSender) redact(err error) error {
	if err == nil || s.password == "" || !strings.Contains(err.Error(), s.password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), s.password, redactedPassword), err: err}
}

// redactedError is an error whose text had the password removed. It still
// unwraps to the original error so that IsPermanent and errors.Is work.
type redactedError struct {
	msg string
	err error
}

// Error returns the redacted text.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.err }
