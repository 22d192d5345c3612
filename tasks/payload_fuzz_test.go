package tasks

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeResourceChange feeds arbitrary bytes to the payload decoder the
// worker runs on every task, since producers other than ours may enqueue
// anything. It checks that the decoder never panics, that every error is one
// of its "payload: ..." messages, and that an accepted payload is valid by
// EncodeResourceChange's rules and survives an encode/decode round trip
// unchanged. Seeds live in testdata/fuzz/FuzzDecodeResourceChange too.
func FuzzDecodeResourceChange(f *testing.F) {
	for _, s := range []string{
		`{"installation_id":1,"event":"issue.created","data":{"issue":{"id":"1"}}}`,
		`{"installation_id":9223372036854775807,"event":"comment.deleted","project_id":3,"actor":{"type":"user","id":1}}`,
		`{"installation_id":1,"event":"issue.created","data":null,"actor":null,"project_id":null}`,
		`{"INSTALLATION_ID":2,"Event":"error.created","data":{"a":"<b>&</b> \u2028"}}`,
		`{"installation_id":"1","event":"issue.created"}`,
		`{"installation_id":1.0,"event":"issue.created"}`,
		`{"installation_id":0,"event":"issue.created"}`,
		`{"installation_id":1,"event":"issue..created"}`,
		`{"installation_id":1,"event":"issue.created","data":[]}`,
		`{"installation_id":1,"event":"issue.created","data":{"x":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}}`,
		`{"installation_id":1,"event":"issue.created","data":{"s":"\"[[[[{{"}}`,
		`[1,2,3]`,
		`{"installation_id":1`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeResourceChange(b, 1<<20)
		if err != nil {
			if !bytes.HasPrefix([]byte(err.Error()), []byte("payload: ")) {
				t.Fatalf("error %q does not start with \"payload: \"", err)
			}
			return
		}
		enc, err := EncodeResourceChange(p)
		if err != nil {
			t.Fatalf("accepted payload %q does not re-encode: %v", b, err)
		}
		q, err := DecodeResourceChange(enc, 0)
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
