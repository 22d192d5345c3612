package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Known answers, computed independently of this package with Python:
//
//	python3 -c 'import hmac,hashlib;print(hmac.new(b"secret",b"body",hashlib.sha256).hexdigest())'
const (
	knownSecret    = "secret"
	knownBody      = "body"
	knownSignature = "dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355"

	// knownBody2 signed with the UTF-8 secret "sécret-ü" (key = the secret's
	// UTF-8 bytes, as flow.md §2 says).
	knownSecret2    = "sécret-ü"
	knownBody2      = `{"action":"created","installation":{"uuid":"0b2b4f7e-1c35-4d3a-9a0e-5b1f5c1e9d00"},"data":{"issue":{"id":"1"}},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`
	knownSignature2 = "4e50d2419e2b33ebd05e6cbc61e0967320ba43b0daef9d22e3f5b803680b8c60"
)

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	require.Equal(t, knownSignature, Sign(knownSecret, []byte(knownBody)))
	require.Equal(t, knownSignature2, Sign(knownSecret2, []byte(knownBody2)))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(knownBody)
	tests := []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"known answer", knownSecret, body, knownSignature, true},
		{"own signature", "other", body, Sign("other", body), true},
		{"tampered body", knownSecret, []byte("bodY"), knownSignature, false},
		{"wrong secret", "Secret", body, knownSignature, false},
		{"not hex", knownSecret, body, "zz" + knownSignature[2:], false},
		{"empty signature", knownSecret, body, "", false},
		{"truncated", knownSecret, body, knownSignature[:62], false},
		{"odd length", knownSecret, body, knownSignature[:63], false},
		{"too long", knownSecret, body, knownSignature + "00", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Verify(tt.secret, tt.body, tt.sig), tt.name)
	}
}

func TestAppendBody(t *testing.T) {
	t.Parallel()
	const uuid = "0b2b4f7e-1c35-4d3a-9a0e-5b1f5c1e9d00"
	tests := []struct {
		name         string
		action, uuid string
		data, actor  string
		want         string
	}{
		{
			name: "default actor, data kept", action: "created", uuid: uuid, data: `{"issue":{"id":"1"}}`,
			want: knownBody2,
		},
		{
			name: "missing data is {}", action: "resolved", uuid: uuid,
			want: `{"action":"resolved","installation":{"uuid":"` + uuid + `"},"data":{},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
		{
			name: "payload actor used, whitespace compacted, key order of data kept", action: "assigned", uuid: uuid,
			data:  "{ \"z\" : 1,\n  \"a\" : [ 1, 2 ] }",
			actor: `{"type": "user", "id": 7, "name": "Ann"}`,
			want:  `{"action":"assigned","installation":{"uuid":"` + uuid + `"},"data":{"z":1,"a":[1,2]},"actor":{"type":"user","id":7,"name":"Ann"}}`,
		},
		{
			name: "no HTML escaping of / < > &", action: "created", uuid: uuid,
			data: `{"url":"https://x.test/a?b=1&c=2","html":"<b>&amp;</b>"}`,
			want: `{"action":"created","installation":{"uuid":"` + uuid + `"},"data":{"url":"https://x.test/a?b=1&c=2","html":"<b>&amp;</b>"},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
		{
			name: "strings needing escapes, no HTML escaping", action: `a"b<c>&/`, uuid: "u\\\n",
			want: `{"action":"a\"b<c>&/","installation":{"uuid":"u\\\n"},"data":{},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
		{
			name: "data and actor in JavaScript's form", action: "created", uuid: uuid,
			data:  `{"t":"caf\u00e9 \u003cb\u003e \/","n":1.0,"2":0,"1":[1e2]}`,
			actor: `{"type":"user","id":7,"name":"\u00c9mile"}`,
			want: `{"action":"created","installation":{"uuid":"` + uuid + `"},"data":{"1":[100],"2":0,"t":"café <b> /","n":1},` +
				`"actor":{"type":"user","id":7,"name":"Émile"}}`,
		},
		{
			name: "non-ASCII kept as UTF-8", action: "created", uuid: "é", data: `{"title":"naïve ✓"}`,
			want: `{"action":"created","installation":{"uuid":"é"},"data":{"title":"naïve ✓"},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		require.NoError(t, AppendBody(&buf, tt.action, tt.uuid, json.RawMessage(tt.data), json.RawMessage(tt.actor)), tt.name)
		require.Equal(t, tt.want, buf.String(), tt.name)
		require.True(t, json.Valid(buf.Bytes()), tt.name)
	}
}

func TestAppendBodyAppends(t *testing.T) {
	t.Parallel()
	buf := bytes.NewBufferString("prefix:")
	require.NoError(t, AppendBody(buf, "created", "u", nil, nil))
	require.Equal(t, `prefix:{"action":"created","installation":{"uuid":"u"},"data":{},"actor":`+DefaultActor+`}`, buf.String())
}

func TestAppendBodyInvalidJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	buf.WriteString("kept")
	err := AppendBody(&buf, "created", "u", json.RawMessage(`{"a": `), nil)
	require.ErrorContains(t, err, "data")
	require.ErrorIs(t, err, errSyntax)
	err = AppendBody(&buf, "created", "u", nil, json.RawMessage(`{"a":1}x`))
	require.ErrorContains(t, err, "actor")
	require.Equal(t, "kept", buf.String(), "a failed body leaves the buffer as it was")
}

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// knownStandardSignature is the Standard Webhooks signature of knownBody
// for webhook-id task-1 at 2026-11-27T17:05:09Z, keyed with the bytes of
// knownSecret, computed independently of this package with Python:
//
//	python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"secret", b"task-1.1795799109.body", hashlib.sha256).digest()).decode())'
const knownStandardSignature = "v1,RZcWoqmKCfYVsCJedOG0+xhbLq6SeiWoD934K3u2+NY="

func TestHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 17, 5, 9, 42113000, time.UTC)
	r := Request{URL: "http://127.0.0.1/x", Resource: "issue", Body: []byte(knownBody), Secret: knownSecret,
		DeliveryID: "task-1", Now: now}
	h := Headers(r, "hookworker/1.2.3", true)
	// The keys are spelled as Sentry and Standard Webhooks spell them
	// (Request-ID, not Request-Id; webhook-id, not Webhook-Id), which the
	// request log keeps; read them exactly.
	require.ElementsMatch(t, []string{"Content-Type", "Request-ID", "Sentry-Hook-Resource", "Sentry-Hook-Timestamp",
		"Sentry-Hook-Signature", "User-Agent", "Hookworker-Delivery-ID",
		"webhook-id", "webhook-timestamp", "webhook-signature"}, slices.Collect(maps.Keys(h)))

	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, "issue", h.Get("Sentry-Hook-Resource"))
	require.Equal(t, "1795799109", h.Get("Sentry-Hook-Timestamp"))
	require.Equal(t, knownSignature, h.Get("Sentry-Hook-Signature"))
	require.Equal(t, "hookworker/1.2.3", h.Get("User-Agent"))
	require.Equal(t, []string{"task-1"}, h["Hookworker-Delivery-ID"])
	require.Equal(t, []string{"task-1"}, h["webhook-id"])
	require.Equal(t, []string{"1795799109"}, h["webhook-timestamp"])
	require.Equal(t, []string{knownStandardSignature}, h["webhook-signature"])
	require.Len(t, h["Request-ID"], 1)
	id := h["Request-ID"][0]
	require.Regexp(t, requestIDPattern, id)
	require.Equal(t, byte('4'), id[12], "uuid4 version nibble")
	require.Contains(t, "89ab", string(id[16]), "uuid4 variant nibble")

	// A new Request-ID per attempt; the same webhook-id.
	seen := map[string]bool{id: true}
	for range 100 {
		next := Headers(r, "", true)
		require.Regexp(t, requestIDPattern, next["Request-ID"][0])
		require.False(t, seen[next["Request-ID"][0]], "Request-ID repeated")
		seen[next["Request-ID"][0]] = true
		require.Equal(t, []string{"task-1"}, next["webhook-id"])
	}

	// Optional headers are left out when empty; without a delivery id the
	// webhook-id is the attempt's Request-ID.
	h = Headers(Request{Resource: "error", Body: nil, Secret: "s", Now: now}, "", true)
	require.NotContains(t, h, "User-Agent")
	require.NotContains(t, h, "Hookworker-Delivery-ID")
	require.Equal(t, Sign("s", nil), h.Get("Sentry-Hook-Signature"))
	require.Equal(t, h["Request-ID"], h["webhook-id"])
	require.NoError(t, VerifyStandard("s", h, nil, now, time.Minute))

	// WEBHOOK_STANDARD_HEADERS=false: Sentry's headers only, unchanged.
	off := Headers(r, "hookworker/1.2.3", false)
	require.ElementsMatch(t, []string{"Content-Type", "Request-ID", "Sentry-Hook-Resource", "Sentry-Hook-Timestamp",
		"Sentry-Hook-Signature", "User-Agent", "Hookworker-Delivery-ID"}, slices.Collect(maps.Keys(off)))
	require.Equal(t, knownSignature, off.Get("Sentry-Hook-Signature"))
}
