package tasks

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzSplitObject checks the fast payload walk against encoding/json: when
// it accepts an input, it must find exactly the raw fields encoding/json
// finds.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{
		`{"installation_id":1,"event":"issue.created","data":{"issue":{"id":"1","t":"a \"b\" {c}"}}}`,
		` { "event" : "x" , "data" : [1, {"a": "}"}], "project_id": -2.5e3, "actor": null } `,
		`{"installation_id":1,"installation_id":2}`,
		`{"Installation_ID":3}`, `{"ev\u0065nt":"x"}`, `[]`, `null`, `{}`, `{"a":{"b":[true,false]}}`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, valid := scanJSON(b); !valid {
			return // splitObject only sees what scanJSON accepted
		}
		raw, ok := splitObject(b)
		if !ok {
			return
		}
		var want rawResourceChange
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("splitObject accepted what encoding/json rejects (%v): %q", err, b)
		}
		for _, pair := range [][2]json.RawMessage{
			{raw.InstallationID, want.InstallationID}, {raw.Event, want.Event}, {raw.Data, want.Data},
			{raw.ProjectID, want.ProjectID}, {raw.Actor, want.Actor},
		} {
			if !bytes.Equal(pair[0], pair[1]) {
				t.Fatalf("field %q, encoding/json found %q, in %q", pair[0], pair[1], b)
			}
		}
	})
}
