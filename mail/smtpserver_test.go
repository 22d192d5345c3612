package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// receivedMail is one message accepted by the test SMTP server.
type receivedMail struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool   // the session was encrypted (smtps or STARTTLS)
	AuthUser string // user name the client authenticated as, if any
}

// testBackend is an in-process SMTP backend that records accepted messages
// and can be told to reject recipients or to require authentication.
type testBackend struct {
	mu       sync.Mutex
	received []receivedMail
	rejects  map[string]*smtp.SMTPError // recipient -> reply to RCPT TO
	user     string                     // required user name when non-empty
	password string
}

// NewSession implements smtp.Backend.
func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{backend: b, conn: c}, nil
}

// messages returns a copy of the messages received so far.
func (b *testBackend) messages() []receivedMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]receivedMail(nil), b.received...)
}

// testSession is one SMTP session of testBackend.
type testSession struct {
	backend  *testBackend
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

// AuthMechanisms implements smtp.AuthSession; PLAIN is offered only when the
// backend requires authentication.
func (s *testSession) AuthMechanisms() []string {
	if s.backend.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession. The failure reply deliberately echoes the
// password so that tests can check the sender redacts it.
func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.backend.user || pass != s.backend.password {
			return &smtp.SMTPError{
				Code:         535,
				EnhancedCode: smtp.EnhancedCode{5, 7, 8},
				Message:      fmt.Sprintf("authentication failed for %s with password %s", user, pass),
			}
		}
		s.authUser = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.backend.user != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if reply, ok := s.backend.rejects[to]; ok {
		return reply
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.backend.mu.Lock()
	defer s.backend.mu.Unlock()
	s.backend.received = append(s.backend.received, receivedMail{
		From: s.from, To: s.to, Data: data, TLS: isTLS, AuthUser: s.authUser,
	})
	return nil
}

func (s *testSession) Reset() {
	s.from = ""
	s.to = nil
}

func (s *testSession) Logout() error { return nil }

// serverOptions configure startTestServer.
type serverOptions struct {
	implicitTLS *tls.Config // serve smtps with this config
	startTLS    *tls.Config // offer STARTTLS with this config
}

// startTestServer serves backend on a fresh 127.0.0.1 port until the test
// ends and returns the port.
func startTestServer(t *testing.T, backend *testBackend, opts serverOptions) int {
	t.Helper()
	var l net.Listener
	var err error
	if opts.implicitTLS != nil {
		l, err = tls.Listen("tcp", "127.0.0.1:0", opts.implicitTLS)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)

	srv := smtp.NewServer(backend)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = opts.startTLS

	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // in case Serve had not registered l yet
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("test SMTP server: %v", err)
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// closedPort returns a loopback port on which nothing listens any more.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// smtpURL builds a URL for the test server on port.
func smtpURL(scheme, userinfo string, port int) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return scheme + "://" + userinfo + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// selfSignedTLS returns a server configuration with a certificate for
// 127.0.0.1 and a client configuration that trusts it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hookworker test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}
