// Package webhook builds, signs and sends one resource-change webhook: the
// body and headers of flow.md §2, the HMAC signature, and an HTTP client
// whose every connection passes the network guard.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// DefaultActor is the actor of a webhook whose payload names none.
const DefaultActor = `{"type":"application","id":"sentry","name":"Sentry"}`

// AppendBody appends the compact event body
// {"action":…,"installation":{"uuid":…},"data":…,"actor":…} to dst, with keys
// in that order, written as JavaScript's JSON.stringify writes it (see
// jsjson.go): a receiver that checks the signature over
// JSON.stringify(JSON.parse(body)), as Sentry's example integration does,
// re-encodes exactly the bytes signed. data and actor must be JSON values;
// an empty data is {} and an empty actor is DefaultActor. Invalid JSON is an
// error and leaves dst as it was.
func AppendBody(dst *bytes.Buffer, action, installationUUID string, data, actor json.RawMessage) error {
	out := dst.AvailableBuffer()
	out = append(out, `{"action":`...)
	out = appendJSString(out, action)
	out = append(out, `,"installation":{"uuid":`...)
	out = appendJSString(out, installationUUID)
	out = append(out, `},"data":`...)
	var err error
	if len(data) == 0 {
		out = append(out, "{}"...)
	} else if out, err = appendJS(out, data); err != nil {
		return fmt.Errorf("build body: data: %w", err)
	}
	out = append(out, `,"actor":`...)
	if len(actor) == 0 {
		out = append(out, DefaultActor...)
	} else if out, err = appendJS(out, actor); err != nil {
		return fmt.Errorf("build body: actor: %w", err)
	}
	out = append(out, '}')
	dst.Write(out)
	return nil
}

// Sign returns the Sentry-Hook-Signature of body: lowercase hex
// HMAC-SHA256 keyed with the app's client secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's signature under secret, in
// constant time. Receivers do this; hookworker's tests do too.
func Verify(secret string, body []byte, signature string) bool {
	want, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(m.Sum(nil), want)
}
