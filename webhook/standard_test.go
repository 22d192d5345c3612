package webhook

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"
)

// received returns h as a net/http server reads it: canonical names.
func received(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out
}

// TestStandardHeadersVerifyWithSvix checks hookworker's Standard Webhooks
// headers with Svix's library, in both of its key forms.
func TestStandardHeadersVerifyWithSvix(t *testing.T) {
	t.Parallel()
	const secret = "5b0a8ac4c6a1f7e7d0b3e4a9c2f1d8e6" // client secrets are hex text, used as bytes
	body := []byte(knownBody2)
	raw, err := svix.NewWebhookRaw([]byte(secret))
	require.NoError(t, err)
	whsec, err := svix.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte(secret)))
	require.NoError(t, err)

	h := received(Headers(Request{Resource: "issue", Body: body, Secret: secret, DeliveryID: "d-1", Now: time.Now()}, "", true))
	require.NoError(t, raw.Verify(body, h))
	require.NoError(t, whsec.Verify(body, h))
	require.NoError(t, VerifyStandard(secret, h, body, time.Now(), StandardTolerance))

	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] ^= 1
	require.EqualError(t, raw.Verify(tampered, h), "No matching signature found")
	require.ErrorIs(t, VerifyStandard(secret, h, tampered, time.Now(), StandardTolerance), ErrStandardSignature)
	other, err := svix.NewWebhookRaw([]byte(secret + "x"))
	require.NoError(t, err)
	require.Error(t, other.Verify(body, h), "another secret")

	// A webhook signed ten minutes ago (a replay) is refused for its age
	// alone: its signature is right.
	old := received(Headers(Request{Resource: "issue", Body: body, Secret: secret, DeliveryID: "d-1",
		Now: time.Now().Add(-10 * time.Minute)}, "", true))
	require.EqualError(t, raw.Verify(body, old), "Message timestamp too old")
	require.NoError(t, raw.VerifyIgnoringTimestamp(body, old))
	require.ErrorIs(t, VerifyStandard(secret, old, body, time.Now(), StandardTolerance), ErrStandardTimestamp)
}

func TestVerifyStandard(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 17, 5, 9, 0, time.UTC)
	body := []byte(knownBody)
	// The known answer of TestHeaders, as a receiver's server reads it.
	good := http.Header{"Webhook-Id": {"task-1"}, "Webhook-Timestamp": {"1795799109"}, "Webhook-Signature": {knownStandardSignature}}
	with := func(name, value string) http.Header {
		h := good.Clone()
		if value == "" {
			delete(h, name)
		} else {
			h[name] = []string{value}
		}
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"known answer", good, body, now, nil},
		{"names as sent", http.Header{"webhook-id": {"task-1"}, "webhook-timestamp": {"1795799109"},
			"webhook-signature": {knownStandardSignature}}, body, now, nil},
		{"several signatures, one right", with("Webhook-Signature", "v1,AAAA v2,x "+knownStandardSignature), body, now, nil},
		{"4m59s late", good, body, now.Add(299 * time.Second), nil},
		{"stale", good, body, now.Add(301 * time.Second), ErrStandardTimestamp},
		{"from the future", good, body, now.Add(-301 * time.Second), ErrStandardTimestamp},
		{"tampered body", good, []byte("bodY"), now, ErrStandardSignature},
		{"other id", with("Webhook-Id", "task-2"), body, now, ErrStandardSignature},
		{"other version", with("Webhook-Signature", "v2,"+knownStandardSignature[3:]), body, now, ErrStandardSignature},
		{"not base64", with("Webhook-Signature", "v1,!!!!"), body, now, ErrStandardSignature},
		{"no id", with("Webhook-Id", ""), body, now, ErrStandardMissing},
		{"no timestamp", with("Webhook-Timestamp", ""), body, now, ErrStandardMissing},
		{"no signature", with("Webhook-Signature", ""), body, now, ErrStandardMissing},
		{"timestamp not a number", with("Webhook-Timestamp", "17957991O9"), body, now, ErrStandardMissing},
	}
	for _, tt := range tests {
		err := VerifyStandard(knownSecret, tt.header, tt.body, tt.now, StandardTolerance)
		if tt.want == nil {
			require.NoError(t, err, tt.name)
		} else {
			require.ErrorIs(t, err, tt.want, tt.name)
		}
	}
}
