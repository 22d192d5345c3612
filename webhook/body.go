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
// in that order and without HTML escaping. data and actor must be valid JSON
// (the task payload decoder checked them; AppendBody only checks what it has
// to compact);
// an empty data is {} and an empty actor is DefaultActor.
func AppendBody(dst *bytes.Buffer, action, installationUUID string, data, actor json.RawMessage) error {
	dst.WriteString(`{"action":`)
	appendString(dst, action)
	dst.WriteString(`,"installation":{"uuid":`)
	appendString(dst, installationUUID)
	dst.WriteString(`},"data":`)
	if len(data) == 0 {
		dst.WriteString("{}")
	} else if err := appendCompact(dst, data); err != nil {
		return fmt.Errorf("build body: data: %w", err)
	}
	dst.WriteString(`,"actor":`)
	if len(actor) == 0 {
		dst.WriteString(DefaultActor)
	} else if err := appendCompact(dst, actor); err != nil {
		return fmt.Errorf("build body: actor: %w", err)
	}
	dst.WriteByte('}')
	return nil
}

// appendCompact writes the JSON v compactly. JSON with no whitespace
// outside its strings is compact already and is copied as it is — the common
// case, as producers encode compactly — which is several times cheaper than
// json.Compact. v must be valid JSON: only JSON that needs compacting is
// checked on the way.
func appendCompact(dst *bytes.Buffer, v json.RawMessage) error {
	if isCompact(v) {
		dst.Write(v)
		return nil
	}
	return json.Compact(dst, v)
}

// isCompact reports whether v has no whitespace outside JSON strings.
func isCompact(v []byte) bool {
	inString, escaped := false, false
	for _, c := range v {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// appendString writes s as a JSON string without HTML escaping.
func appendString(dst *bytes.Buffer, s string) {
	if isPlain(s) {
		dst.WriteByte('"')
		dst.WriteString(s)
		dst.WriteByte('"')
		return
	}
	enc := json.NewEncoder(dst)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	dst.Truncate(dst.Len() - 1)
}

// isPlain reports whether s needs no escaping in JSON.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
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
