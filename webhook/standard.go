package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StandardTolerance is how far a Standard Webhooks timestamp may be from
// the receiver's clock, either way, in the standard's libraries.
const StandardTolerance = 5 * time.Minute

// Errors of VerifyStandard.
var (
	// ErrStandardMissing: a Standard Webhooks header is missing or malformed.
	ErrStandardMissing = errors.New("webhook-id, webhook-timestamp or webhook-signature missing or malformed")
	// ErrStandardTimestamp: webhook-timestamp is too far from now.
	ErrStandardTimestamp = errors.New("webhook-timestamp is outside the tolerance")
	// ErrStandardSignature: no v1 signature matches.
	ErrStandardSignature = errors.New("no webhook-signature matches")
)

// VerifyStandard checks a request's Standard Webhooks signature as the
// standard's libraries do (svix.NewWebhookRaw([]byte(secret)).Verify with
// StandardTolerance): the three headers are there, webhook-timestamp is
// within tolerance of now, and one of the space-separated "v1,<base64>"
// signatures in webhook-signature is the HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>" keyed with the bytes of secret,
// compared in constant time. Receivers do this; cmd/receiver and
// hookworker's tests do too. header may spell the names either way
// (webhook-id as sent, Webhook-Id as net/http's server reads it).
func VerifyStandard(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := headerValue(header, "webhook-id"), headerValue(header, "webhook-timestamp"), headerValue(header, "webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrStandardMissing
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q", ErrStandardMissing, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrStandardTimestamp, (-d).Round(time.Second))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrStandardSignature
}

// headerValue returns the first value of the header name, looked up as
// spelled and in net/http's canonical form.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return h.Get(name)
}
