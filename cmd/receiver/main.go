// Command receiver is a webhook receiver for trying hookworker locally: it
// prints every request it gets, checks its signature when given the app's
// client secret, and answers with a chosen status code.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/hookworker/hookworker/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9999", "address to listen on")
	secret := flag.String("secret", "", "the app's client_secret, to verify Sentry-Hook-Signature")
	status := flag.Int("status", http.StatusOK, "status code to answer with")
	flag.Parse()

	logger := log.New(os.Stdout, "", log.LstdFlags)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		verdict := "not checked (no --secret)"
		if *secret != "" {
			verdict = "INVALID"
			if webhook.Verify(*secret, body, r.Header.Get("Sentry-Hook-Signature")) {
				verdict = "valid"
			}
		}
		logger.Printf("%s %s resource=%s delivery=%s signature=%s\n%s\n", r.Method, r.URL.Path,
			r.Header.Get("Sentry-Hook-Resource"), r.Header.Get("Hookworker-Delivery-ID"), verdict, body)
		w.WriteHeader(*status)
	})
	logger.Printf("listening on http://%s/ (answering %d)", *addr, *status)
	if err := http.ListenAndServe(*addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}
