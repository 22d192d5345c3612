package producer

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the payload decoder the worker runs on
// every task, since producers other than ours may enqueue anything. It
// checks that the decoder never panics; that every error is one of its
// "payload: ..." messages; that it agrees with encoding/json: invalid JSON
// (json.Valid) is always refused, and an accepted payload has the
// installation_id, event and project_id that encoding/json reads under the
// exact keys; and that an accepted payload is valid by Encode's rules and
// survives an encode/decode round trip unchanged. Seeds live in
// testdata/fuzz/FuzzDecode too.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"installation_id":1,"event":"issue.created","data":{"issue":{"id":"1"}}}`,
		`{"installation_id":9223372036854775807,"event":"comment.deleted","project_id":3,"actor":{"type":"user","id":1}}`,
		`{"installation_id":1,"event":"issue.created","data":null,"actor":null,"project_id":null}`,
		`{"INSTALLATION_ID":2,"Event":"error.created","data":{"a":"<b>&</b> \u2028"}}`,
		`{"installation_id":1,"inſtallation_id":2,"event":"issue.created"}`,
		`{"installation_id":1,"installation_id":2,"event":"issue.created"}`,
		`{"installation_id":1,"ev\u0065nt":"issue.created"}`,
		`{"installation_id":"1","event":"issue.created"}`,
		`{"installation_id":1.0,"event":"issue.created"}`,
		`{"installation_id":0,"event":"issue.created"}`,
		`{"installation_id":1,"event":"issue..created"}`,
		`{"installation_id":1,"event":"issue.created","data":[]}`,
		`{"installation_id":1,"event":"issue.created","data":{"x":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}}`,
		`{"installation_id":1,"event":"issue.created","data":{"s":"\"[[[[{{"}}`,
		`{"installation_id":1,"event":"issue.created"} {}`,
		`[1,2,3]`,
		`{"installation_id":1`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b, 1<<20)
		if err != nil {
			if !bytes.HasPrefix([]byte(err.Error()), []byte("payload: ")) {
				t.Fatalf("error %q does not start with \"payload: \"", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted what json.Valid refuses: %q", b)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted what encoding/json cannot read as an object (%v): %q", err, b)
		}
		var id int64
		var ev string
		if json.Unmarshal(m["installation_id"], &id) != nil || id != p.InstallationID {
			t.Fatalf("installation_id %d, encoding/json reads %s: %q", p.InstallationID, m["installation_id"], b)
		}
		if json.Unmarshal(m["event"], &ev) != nil || ev != p.Event {
			t.Fatalf("event %q, encoding/json reads %s: %q", p.Event, m["event"], b)
		}
		if p.ProjectID != nil {
			var pid int64
			if json.Unmarshal(m["project_id"], &pid) != nil || pid != *p.ProjectID {
				t.Fatalf("project_id %d, encoding/json reads %s: %q", *p.ProjectID, m["project_id"], b)
			}
		}
		enc, err := Encode(p, 0)
		if err != nil {
			t.Fatalf("accepted payload %q does not re-encode: %v", b, err)
		}
		q, err := Decode(enc, 0)
		if err != nil {
			t.Fatalf("re-encoded payload %q does not decode: %v", enc, err)
		}
		if p.InstallationID != q.InstallationID || p.Event != q.Event {
			t.Fatalf("round trip changed id/event: %+v → %+v", p, q)
		}
		if (p.ProjectID == nil) != (q.ProjectID == nil) || (p.ProjectID != nil && *p.ProjectID != *q.ProjectID) {
			t.Fatalf("round trip changed project_id: %v → %v", p.ProjectID, q.ProjectID)
		}
		for _, pair := range [][2]json.RawMessage{{p.Data, q.Data}, {p.Actor, q.Actor}} {
			if !sameJSON(t, pair[0], pair[1]) {
				t.Fatalf("round trip changed an object: %s → %s", pair[0], pair[1])
			}
		}
	})
}

// sameJSON reports whether a and b are the same JSON text up to
// insignificant whitespace (both empty counts as the same).
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if err := json.Compact(&ca, a); err != nil {
		t.Fatalf("accepted payload holds invalid JSON %q: %v", a, err)
	}
	if err := json.Compact(&cb, b); err != nil {
		t.Fatalf("re-encoded payload holds invalid JSON %q: %v", b, err)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
