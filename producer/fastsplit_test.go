package producer

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hookworker/hookworker/internal/bench/fixture"
)

// FuzzDecodeFast is the differential test of Decode's hand-written fast
// path: for any input, Decode (splitFast first) and the encoding/json path
// alone give the same payload and the same error. Seeds live in
// testdata/fuzz/FuzzDecodeFast too.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"installation_id":1,"event":"issue.created","data":{"issue":{"id":"1"}}}`,
		` {"installation_id" : 1 , "event" : "issue.created" , "data" : { "a" : [ 1 , 2.5e-3 , -0 , true , false , null ] } } `,
		`{"installation_id":9223372036854775807,"event":"comment.deleted","project_id":3,"actor":{"type":"user","id":1}}`,
		`{"installation_id":1,"event":"issue.created","data":null,"actor":null,"project_id":null}`,
		`{"installation_id":1,"event":"issue.created","data":{"s":"\u00e9\ud83d\ude00\n\"\\\/"},"x":{"y":[{}]}}`,
		`{"installation_id":1,"event":"issue.created","data":{"s":"caf` + "\xc3\xa9 \xff" + `"}}`,
		`{"installation_id":1,"event":"issue.created","installation_id":2}`,
		`{"installation_id":1,"event":"issue.created","x":1,"x":2}`,
		`{"installation_id":1,"ev\u0065nt":"issue.created"}`,
		`{"installation_id":1,"event":"issue.created","event\u0000":1}`,
		`{"installation_id":1,"event":"issue\u002ecreated"}`,
		`{"installation_id":1,"event":"issue.créated"}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":1,}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":01}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":1.}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":-}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":1e}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":nul}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":truex}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":"` + "\t" + `"}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":"\x"}}`,
		`{"installation_id":1,"event":"issue.created","data":{"a":"\u12"}}`,
		`{"installation_id":1,"event":"issue.created","data":[1,2]}`,
		`{"installation_id":1,"event":"issue.created","data":{"x":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}}`,
		`{"installation_id":1,"event":"issue.created"} {}`,
		`{"installation_id":1,"event":"issue.created"}x`,
		`{"installation_id":1,"event":"issue.created"`,
		`{"installation_id":1.0,"event":"issue.created"}`,
		`{"installation_id":"1","event":"issue.created"}`,
		`{"installation_id":1,"event":7}`,
		`{}`,
		` { } `,
		`{"installation_id":1,"event":"issue.created","data":` + strings.Repeat(`[`, 63) + strings.Repeat(`]`, 63) + `}`,
		`{"installation_id":1,"event":"issue.created","data":` + strings.Repeat(`[`, 64) + strings.Repeat(`]`, 64) + `}`,
		`{"installation_id":1,"event":"issue.created","x":"` + strings.Repeat(`[`, 70) + `"}`,
		`[1,2,3]`,
		`"x"`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, fastErr := decode(b, 1<<20, true)
		slow, slowErr := decode(b, 1<<20, false)
		if (fastErr == nil) != (slowErr == nil) || (fastErr != nil && fastErr.Error() != slowErr.Error()) {
			t.Fatalf("errors differ on %q: fast path %v, encoding/json %v", b, fastErr, slowErr)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("payloads differ on %q: fast path %+v, encoding/json %+v", b, fast, slow)
		}
	})
}

// TestSplitFastTakesPlainPayloads guards the speed: the payloads producers
// write (Encode's, with spaces or not) take the fast path.
func TestSplitFastTakesPlainPayloads(t *testing.T) {
	t.Parallel()
	project := int64(4504134)
	enc, err := Encode(ResourceChange{InstallationID: 123456, Event: "issue.created", Data: fixture.IssueData(4521337, 0),
		ProjectID: &project, Actor: []byte(`{"type":"user","id":"1","name":"Ann"}`)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{enc, []byte(" {\n \"installation_id\": 1,\n \"event\": \"issue.created\",\n \"data\": {\"a\": [1, 2]}\n}\n")} {
		raw, ok := splitFast(b)
		if !ok {
			t.Fatalf("splitFast refused %q", b)
		}
		want, err := split(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(raw, want) {
			t.Fatalf("splitFast %+v, split %+v", raw, want)
		}
	}
}

// BenchmarkDecodePaths compares the fast path with encoding/json alone on
// a ~2 KB issue payload.
func BenchmarkDecodePaths(b *testing.B) {
	project := int64(4504134)
	payload, err := Encode(ResourceChange{InstallationID: 123456, Event: "issue.created", Data: fixture.IssueData(4521337, 0), ProjectID: &project}, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, fast := range []bool{true, false} {
		name := "encoding_json"
		if fast {
			name = "fast"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := decode(payload, 1<<20, fast); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
