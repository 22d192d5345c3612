// Command receiver is a webhook receiver for trying hookworker locally: it
// prints every request it gets, checks both of its signatures when given the
// app's client secret (Sentry-Hook-Signature and the Standard Webhooks
// webhook-signature), and answers with a chosen status code.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/hookworker/hookworker/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9999", "address to listen on")
	secret := flag.String("secret", "", "the app's client_secret, to verify Sentry-Hook-Signature and webhook-signature")
	status := flag.Int("status", http.StatusOK, "status code to answer with")
	flag.Parse()

	logger := log.New(os.Stdout, "", log.LstdFlags)
	logger.Printf("listening on http://%s/ (answering %d)", *addr, *status)
	if err := http.ListenAndServe(*addr, newHandler(*secret, *status, logger, time.Now)); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

// newHandler prints each request with the verdict of both signatures and
// answers status.
func newHandler(secret string, status int, logger *log.Logger, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		sentry, standard := "not checked (no --secret)", "not checked (no --secret)"
		if secret != "" {
			sentry = "INVALID"
			if webhook.Verify(secret, body, r.Header.Get("Sentry-Hook-Signature")) {
				sentry = "valid"
			}
			standard = standardVerdict(webhook.VerifyStandard(secret, r.Header, body, now(), webhook.StandardTolerance))
		}
		logger.Printf("%s %s resource=%s delivery=%s signature=%s standard=%s\n%s\n", r.Method, r.URL.Path,
			r.Header.Get("Sentry-Hook-Resource"), r.Header.Get("Hookworker-Delivery-ID"), sentry, standard, body)
		w.WriteHeader(status)
	})
}

// standardVerdict says what the Standard Webhooks check found.
func standardVerdict(err error) string {
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, webhook.ErrStandardMissing):
		return "absent (no webhook-id/webhook-timestamp/webhook-signature: WEBHOOK_STANDARD_HEADERS=false?)"
	default:
		return fmt.Sprintf("INVALID (%v)", err)
	}
}
