package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAppendBody checks the webhook body builder on arbitrary actions,
// installation UUIDs, data and actors: whenever data and actor are valid
// JSON objects (or empty), the body is valid JSON with exactly the keys
// action, installation, data, actor in that order, carries the inputs
// with the same value in JavaScript's form, and its signature verifies under the secret (and fails for a
// changed body). Seeds live in testdata/fuzz/FuzzAppendBody too.
func FuzzAppendBody(f *testing.F) {
	f.Add("created", "0b8f0d5e-6b0e-4c1f-9d3e-8a2f5d7c9e10", []byte(`{"issue":{"id":"1"}}`), []byte(nil), "s3cret")
	f.Add("<script>&", "\"quoted\"\\", []byte(` { "a" : [ 1 , "</b>" ] } `), []byte(`{"type":"user","id":1,"name":"Zoë"}`), "")
	f.Add("\u2028\x00\xff", "", []byte(`{}`), []byte(`{}`), "\xff")
	f.Add("resolved", "u", []byte(`[1]`), []byte(`"x"`), "k")
	f.Add("resolved", "u", []byte(`{"a":1`), []byte(nil), "k")
	f.Add("created", "u", []byte(`{"t":"caf\u00e9 \u003cb\u003e \/ \ud800","n":[1.0,1e2,1E+21,9007199254740993],"2":{"1":0,"b":1,"b":2}}`),
		[]byte(`{"name":"\u00c9mile"}`), "k")
	f.Fuzz(func(t *testing.T, action, uuid string, data, actor []byte, secret string) {
		var buf bytes.Buffer
		err := AppendBody(&buf, action, uuid, data, actor)
		if !isObjectOrEmpty(data) || !isObjectOrEmpty(actor) {
			return // the caller validates these; only no panic is required
		}
		if err != nil {
			t.Fatalf("AppendBody failed on valid objects: %v", err)
		}
		body := buf.Bytes()
		if !json.Valid(body) {
			t.Fatalf("body is not valid JSON: %q", body)
		}
		checkKeyOrder(t, body)

		var got struct {
			Action       string `json:"action"`
			Installation struct {
				UUID string `json:"uuid"`
			} `json:"installation"`
			Data  json.RawMessage `json:"data"`
			Actor json.RawMessage `json:"actor"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("decode body %q: %v", body, err)
		}
		if utf8.ValidString(action) && got.Action != action {
			t.Fatalf("action %q came back as %q", action, got.Action)
		}
		if utf8.ValidString(uuid) && got.Installation.UUID != uuid {
			t.Fatalf("uuid %q came back as %q", uuid, got.Installation.UUID)
		}
		// data and actor keep their value (the rewrite to JavaScript's form
		// changes notation only) and are in that form already: a second
		// rewrite, like a JavaScript receiver's JSON.stringify(JSON.parse()),
		// changes nothing.
		for _, part := range []struct {
			name     string
			in, out  []byte
			fallback string
		}{{"data", data, got.Data, "{}"}, {"actor", actor, got.Actor, DefaultActor}} {
			in := part.in
			if len(in) == 0 {
				in = []byte(part.fallback)
			}
			if utf8.Valid(in) {
				requireSameValue(t, in, part.out)
			}
			again, err := appendJS(nil, part.out)
			if err != nil || !bytes.Equal(again, part.out) {
				t.Fatalf("%s %q is not in JavaScript's form: %q (%v)", part.name, part.out, again, err)
			}
		}
		if !utf8.Valid(body) {
			t.Fatalf("body is not valid UTF-8: %q", body)
		}
		for _, c := range []string{"<", ">", "&"} {
			if utf8.ValidString(action+uuid) && strings.Contains(action+uuid, c) && !bytes.Contains(body, []byte(c)) {
				t.Fatalf("body HTML-escapes %q: %q", c, body)
			}
		}

		sig := Sign(secret, body)
		if !Verify(secret, body, sig) {
			t.Fatalf("signature %s does not verify", sig)
		}
		tampered := append(append([]byte(nil), body...), ' ')
		if Verify(secret, tampered, sig) {
			t.Fatal("signature verifies a changed body")
		}
	})
}

// isObjectOrEmpty reports whether b is empty or a valid JSON object.
func isObjectOrEmpty(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	return json.Valid(b) && len(t) > 0 && t[0] == '{'
}

// checkKeyOrder fails unless body is an object whose top-level keys are
// exactly action, installation, data, actor, in that order.
func checkKeyOrder(t *testing.T, body []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body does not start with an object: %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("read key: %v", err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("read value of %v: %v", tok, err)
		}
	}
	want := []string{"action", "installation", "data", "actor"}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
}
