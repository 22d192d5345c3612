// Package testsmtp is an in-process SMTP server on loopback for tests: it
// records every message it accepts (raw and parsed into subject, text and
// HTML bodies) and can be told to reject recipients with a given reply, so
// that tests exercise the real SMTP client against a real server without
// leaving the machine.
package testsmtp

import (
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Server is a running SMTP server on 127.0.0.1. It is safe for concurrent
// use; it stops when the test that started it ends.
type Server struct {
	addr string

	mu         sync.Mutex
	messages   []Message
	attempts   int                        // MAIL FROM commands seen
	reject     *smtp.SMTPError            // reply to every RCPT TO when set
	rejectRcpt map[string]*smtp.SMTPError // reply to RCPT TO per address
}

// Start serves on a fresh loopback port until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsmtp: listen: %v", err)
	}
	return serve(t, l)
}

// StartAt serves on addr (typically one from ReserveAddr) until t ends, so a
// test can make the server appear only after a client has failed to reach
// it.
func StartAt(t testing.TB, addr string) *Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("testsmtp: listen on %s: %v", addr, err)
	}
	return serve(t, l)
}

// ReserveAddr returns a loopback address on which nothing listens: a port
// the kernel handed out and that was closed again at once. Connections to it
// are refused until StartAt serves on it.
func ReserveAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsmtp: reserve a port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("testsmtp: release port %s: %v", addr, err)
	}
	return addr
}

func serve(t testing.TB, l net.Listener) *Server {
	s := &Server{addr: l.Addr().String(), rejectRcpt: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)

	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // in case Serve had not registered l yet
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("testsmtp: serve %s: %v", s.addr, err)
		}
	})
	return s
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// URL returns the SMTP_URL of the server, "smtp://127.0.0.1:port".
func (s *Server) URL() string { return "smtp://" + s.addr }

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Count returns how many messages were accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// To returns the accepted messages with addr among their envelope
// recipients (compared case-insensitively).
func (s *Server) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Attempts returns how many mail transactions (MAIL FROM commands) clients
// started, accepted or not: a client that retries shows up here.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// RejectAll makes the server answer every RCPT TO with code (4xx transient,
// 5xx permanent) and message, until AcceptAll.
func (s *Server) RejectAll(code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = reply(code, message)
}

// RejectRecipient makes the server answer RCPT TO addr with code and
// message, until AcceptAll.
func (s *Server) RejectRecipient(addr string, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRcpt[strings.ToLower(addr)] = reply(code, message)
}

// AcceptAll drops every rejection set by RejectAll and RejectRecipient.
func (s *Server) AcceptAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = nil
	clear(s.rejectRcpt)
}

// reply builds an SMTP error reply with the enhanced status code that
// matches code's class (x.0.0).
func reply(code int, message string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: message}
}

// rcptReply returns the rejection for addr, or nil to accept it.
func (s *Server) rcptReply(addr string) *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rejectRcpt[strings.ToLower(addr)]; ok {
		return r
	}
	return s.reject
}

// backend implements smtp.Backend for a Server.
type backend struct{ s *Server }

// NewSession implements smtp.Backend.
func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s}, nil
}

// session is one SMTP connection.
type session struct {
	s    *Server
	from string
	to   []string
}

// Mail implements smtp.Session.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	ss.s.attempts++
	ss.s.mu.Unlock()
	ss.from = from
	return nil
}

// Rcpt implements smtp.Session.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if r := ss.s.rcptReply(to); r != nil {
		return r
	}
	ss.to = append(ss.to, to)
	return nil
}

// Data implements smtp.Session: the message is recorded once fully read.
func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := parse(raw)
	m.From = ss.from
	m.To = append([]string(nil), ss.to...)
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, m)
	ss.s.mu.Unlock()
	return nil
}

// Reset implements smtp.Session.
func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

// Logout implements smtp.Session.
func (ss *session) Logout() error { return nil }
