package tasks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var scanCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12.0E+7`, `true`, `false`, `null`, ` {"a" : [1, 2, {"b": null}] } `,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, "\"\xff\xfe invalid UTF-8 passes, as in encoding/json\"",
	// invalid
	``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `{a:1}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `tru`, `truex`, `nul`, `nulll`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12g4"`, "\"a\x01b\"", `[1] [2]`, `{"a":1}}`, `[[]`, `[}`, `{]`, `"a"x`, `1 2`, "\"tab\there\"",
}

func TestScanJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range scanCases {
		d, ok := scanJSON([]byte(s))
		require.Equal(t, json.Valid([]byte(s)), ok, "%q", s)
		if ok {
			require.Equal(t, depth([]byte(s)), d, "%q", s)
		}
	}
}

// encoding/json refuses more than 10000 levels of nesting; so does scanJSON.
func TestScanJSONNestingLimit(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxScanNesting, maxScanNesting + 1} {
		s := strings.Repeat("[", n) + strings.Repeat("]", n)
		d, ok := scanJSON([]byte(s))
		require.Equal(t, json.Valid([]byte(s)), ok, "%d levels", n)
		if ok {
			require.Equal(t, n, d)
		}
	}
}

// FuzzScanJSON checks scanJSON against json.Valid and depth on any input.
func FuzzScanJSON(f *testing.F) {
	for _, s := range scanCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := scanJSON(b)
		if want := json.Valid(b); ok != want {
			t.Fatalf("scanJSON says %v, json.Valid %v: %q", ok, want, b)
		}
		if ok && d != depth(b) {
			t.Fatalf("depth %d, want %d: %q", d, depth(b), b)
		}
	})
}
