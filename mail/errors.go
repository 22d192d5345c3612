package mail

import (
	"context"
	"errors"
	"net/textproto"

	gomail "github.com/wneessen/go-mail"
)

// ErrInvalidMessage is wrapped by every error that reports a message which can
// never be delivered as it is (bad recipient, empty subject, no body, unsafe
// header). Such errors are permanent: retrying cannot fix them.
var ErrInvalidMessage = errors.New("mail: invalid message")

// IsPermanent reports whether err, as returned by a Sender's Send, is
// permanent, meaning the task must not be retried: an SMTP 5xx reply (the
// server refused the sender, the recipient or the message) or a message or
// address that is invalid. Connection errors, timeouts, cancellations and SMTP
// 4xx replies are transient and IsPermanent returns false for them, as it does
// for nil.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	if codes := replyCodes(err); codes.permanent {
		return true
	} else if codes.transient {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) {
		switch sendErr.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			// go-mail could not use the addresses, or the server cannot take
			// the message as encoded: the same message would fail again.
			return true
		}
	}
	return false
}

// replyKinds records which classes of SMTP replies an error tree contains.
type replyKinds struct {
	permanent bool // some 5xx reply
	transient bool // some 4xx reply
}

// replyCodes walks err's tree (both single and multi-error wrapping) and
// collects the SMTP reply codes found in go-mail's *SendError values, which
// do not unwrap to the underlying replies, and in *textproto.Error values,
// which go-mail returns for failures while connecting (greeting, EHLO,
// STARTTLS, AUTH).
func replyCodes(err error) replyKinds {
	var kinds replyKinds
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		code := 0
		switch v := e.(type) {
		case *gomail.SendError:
			code = v.ErrorCode()
		case *textproto.Error:
			code = v.Code
		}
		switch {
		case code >= 500 && code < 600:
			kinds.permanent = true
		case code >= 400 && code < 500:
			kinds.transient = true
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
	return kinds
}
