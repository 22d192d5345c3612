package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The expected outputs below are what Node 20 prints for
// JSON.stringify(JSON.parse(in)), except where a comment says the number
// is kept as sent.
func TestAppendJS(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"non-ASCII escapes become UTF-8", `{"t":"caf\u00e9 \u00E9"}`, `{"t":"café é"}`},
		{"Go's HTML escapes undone", `{"h":"\u003cb\u003e \u0026 \u003C"}`, `{"h":"<b> & <"}`},
		{"escaped slashes", `{"u":"https:\/\/x.test\/a"}`, `{"u":"https://x.test/a"}`},
		{"control characters as JavaScript escapes them",
			`{"c":"\u0000\u0001\u001F\u001f\b\f\n\r\t\u0008\u000C\u007f\u0080"}`,
			`{"c":"\u0000\u0001\u001f\u001f\b\f\n\r\t\b\f` + "\x7f\u0080" + `"}`},
		{"quote and backslash", `{"q":"\"\\\u0022\u005C"}`, `{"q":"\"\\\"\\"}`},
		{"surrogates: pairs joined, lone ones escaped in lowercase",
			`{"s":"\ud83d\ude00 \uD83D\uDE00 \ud800 \udc00x \ud800\ud83d\ude00 \uDBFF"}`,
			`{"s":"😀 😀 \ud800 \udc00x \ud800😀 \udbff"}`},
		{"line and paragraph separators raw", `{"l":"\u2028\u2029 ` + "\u2028" + `"}`, `{"l":"` + "\u2028\u2029 \u2028" + `"}`},
		{"raw text kept", `{"t":"naïve ✓ </script> &amp; / 😀"}`, `{"t":"naïve ✓ </script> &amp; / 😀"}`},
		{"invalid UTF-8 replaced per maximal subpart",
			"{\"x\":\"a\xe2\x82b\xf0\x9f\x98c\xc0\xaf\xed\xa0\x80\xff\xf4\x90\x80\x80\xe0\x80d\"}",
			"{\"x\":\"a\uFFFDb\uFFFDc" + strings.Repeat("\uFFFD", 12) + "d\"}"},
		{"numbers JavaScript writes with the same value",
			`[1.0,1e2,1E2,1e+2,1E-2,0.5,-0,-0.0,0e10,1e21,1E+21,123e-20,0.000001,1e-7,-1.50,100,1.5e300,5e-324,2.5e-5,` +
				`0.1,0.30000000000000004,1.7976931348623157e308,100000000000000000000,1000000000000000000000,123456789012345680000,` +
				`9007199254740992,-9007199254740992,123456789012345,-7]`,
			`[1,100,100,100,0.01,0.5,0,0,0,1e+21,1e+21,1.23e-18,0.000001,1e-7,-1.5,100,1.5e+300,5e-324,0.000025,` +
				`0.1,0.30000000000000004,1.7976931348623157e+308,100000000000000000000,1e+21,123456789012345680000,` +
				`9007199254740992,-9007199254740992,123456789012345,-7]`},
		// JavaScript writes 12345678901234568, 9007199254740992,
		// 1.2345678901234568e+29, null, null, 0 and 0.30000000000000004:
		// other values. They are kept as sent.
		{"numbers a double cannot hold kept as sent",
			`[12345678901234567,9007199254740993,123456789012345678901234567890,1e400,-1e400,1e-400,0.3000000000000000444]`,
			`[12345678901234567,9007199254740993,123456789012345678901234567890,1e400,-1e400,1e-400,0.3000000000000000444]`},
		{"array-index names first, ascending; repeated names once, last value at the first place",
			`{"b":1,"2":1,"a":2,"1":3,"b":4,"4294967294":1,"4294967295":1,"01":1,"-1":2,"0":0}`,
			`{"0":0,"1":3,"2":1,"4294967294":1,"b":4,"a":2,"4294967295":1,"01":1,"-1":2}`},
		{"nested objects reordered", `{"x":{"10":1,"9":2},"y":[{"b":1,"a":2,"b":3}]}`, `{"x":{"9":2,"10":1},"y":[{"b":3,"a":2}]}`},
		{"escaped names compared by their value", `{"\u0061":1,"a":2}`, `{"a":2}`},
		{"__proto__ is a name like another", `{"__proto__":{"x":1},"a":2,"__proto__":3}`, `{"__proto__":3,"a":2}`},
		{"whitespace dropped", ` { "a" : [ 1 , 2 ] , "b" : { } , "c" : [ ] , "d" : true , "e" : false , "f" : null } `,
			`{"a":[1,2],"b":{},"c":[],"d":true,"e":false,"f":null}`},
		{"in order already", `{"0":1,"1":2,"a":{"1":[]},"b":"x"}`, `{"0":1,"1":2,"a":{"1":[]},"b":"x"}`},
	}
	for _, tt := range tests {
		got, err := appendJS([]byte("prefix"), []byte(tt.in))
		require.NoError(t, err, tt.name)
		require.Equal(t, "prefix"+tt.want, string(got), tt.name)
		again, err := appendJS(nil, got[len("prefix"):])
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, string(again), "%s: a second pass changes nothing", tt.name)
	}
}

func TestAppendJSInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `[1,]`, `[1 2]`, `01`, `1.`, `.5`, `1e`, `1e+`, `-`,
		`+1`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"\x01\"", `tru`, `nul`, `{} {}`, `[]]`, `NaN`, `Infinity`,
		strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1),
	} {
		_, err := appendJS(nil, []byte(in))
		require.ErrorIs(t, err, errSyntax, "%q", in)
		require.False(t, json.Valid([]byte(in)), "%q is valid JSON after all", in)
	}
	deep := strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting)
	got, err := appendJS(nil, []byte(deep))
	require.NoError(t, err)
	require.Equal(t, deep, string(got))
}

func TestAppendJSString(t *testing.T) {
	t.Parallel()
	require.Equal(t, `"a\"b<c>&/\\\n\u0001é`+"\u2028"+`"`, string(appendJSString(nil, "a\"b<c>&/\\\n\x01é\u2028")))
	require.Equal(t, "\"x\uFFFDy\uFFFD\uFFFD\"", string(appendJSString(nil, "x\xe2\x82y\xc0\xaf")))
}

// TestAppendJSMatchesNode compares appendJS with Node's
// JSON.stringify(JSON.parse(text)) on thousands of generated documents:
// every kind of escape, raw and invalid UTF-8, numbers in every notation,
// array-index and repeated names, nesting. It skips without node
// (apt-get install -y nodejs; .ci/run installs it).
func TestAppendJSMatchesNode(t *testing.T) {
	t.Parallel()
	nodePath, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH (apt-get install -y nodejs); the rewrite is not compared with JavaScript")
	}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	docs := make([][]byte, 4000)
	for i := range docs {
		var b bytes.Buffer
		genValue(rng, &b, 0)
		docs[i] = b.Bytes()
	}
	got := nodeStringify(t, nodePath, docs)
	for i, doc := range docs {
		want, err := appendJS(nil, doc)
		require.NoError(t, err, "%q", doc)
		require.Equal(t, string(got[i]), string(want), "document %q", doc)
	}
}

// nodeStringify returns JSON.stringify(JSON.parse(doc)) for each doc, as
// Node computes it from the bytes decoded as UTF-8 (what a body parser does).
func nodeStringify(t *testing.T, nodePath string, docs [][]byte) [][]byte {
	t.Helper()
	const script = `
const rl = require('readline').createInterface({input: process.stdin});
const out = [];
rl.on('line', (l) => {
  const text = Buffer.from(l, 'base64').toString('utf8');
  out.push(Buffer.from(JSON.stringify(JSON.parse(text)), 'utf8').toString('base64'));
});
rl.on('close', () => process.stdout.write(out.join('\n') + '\n'));
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var in bytes.Buffer
	for _, d := range docs {
		in.WriteString(base64.StdEncoding.EncodeToString(d))
		in.WriteByte('\n')
	}
	cmd := exec.CommandContext(ctx, nodePath, "-e", script)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node: %s", stderr.String())
	var res [][]byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		b, err := base64.StdEncoding.DecodeString(sc.Text())
		require.NoError(t, err)
		res = append(res, b)
	}
	require.Len(t, res, len(docs))
	return res
}

// genValue writes a random JSON value with random spacing.
func genValue(rng *rand.Rand, b *bytes.Buffer, depth int) {
	space := func() {
		if rng.IntN(4) == 0 {
			b.WriteString([]string{" ", "\n", "\t", "\r\n  "}[rng.IntN(4)])
		}
	}
	space()
	k := rng.IntN(10)
	if depth >= 4 && k < 4 {
		k += 4
	}
	switch k {
	case 0, 1:
		b.WriteByte('{')
		n := rng.IntN(7)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			space()
			genName(rng, b)
			space()
			b.WriteByte(':')
			genValue(rng, b, depth+1)
		}
		space()
		b.WriteByte('}')
	case 2, 3:
		b.WriteByte('[')
		n := rng.IntN(5)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			genValue(rng, b, depth+1)
		}
		space()
		b.WriteByte(']')
	case 4, 5, 6:
		genString(rng, b)
	case 7, 8:
		genNumber(rng, b)
	default:
		b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
	}
	space()
}

// genName writes an object member name: often array-index-like or one of a
// few names that repeat.
func genName(rng *rand.Rand, b *bytes.Buffer) {
	switch rng.IntN(6) {
	case 0:
		b.WriteString(strconv.Quote(strconv.Itoa(rng.IntN(12))))
	case 1:
		b.WriteString(`"` + []string{"4294967294", "4294967295", "01", "-1", "1.5", "007", "0", "\\u0031", "1e3"}[rng.IntN(9)] + `"`)
	case 2, 3:
		b.WriteString(`"` + []string{"a", "b", "id", "\\u0061", "é", "\\u00e9"}[rng.IntN(6)] + `"`)
	default:
		genString(rng, b)
	}
}

// genString writes a JSON string of random pieces.
func genString(rng *rand.Rand, b *bytes.Buffer) {
	pieces := []func(){
		func() { b.WriteString("plain text ") },
		func() { b.WriteString(`<b>&amp;</b> \/ \"q\" \\`) },
		func() { b.WriteString(`\u003c\u003e\u0026`) },
		func() { fmt.Fprintf(b, `\u%04x`, rng.IntN(0x10000)) },
		func() { fmt.Fprintf(b, `\u%04X`, rng.IntN(0x10000)) },
		func() { fmt.Fprintf(b, `\u%04x`, 0xD800+rng.IntN(0x800)) }, // surrogates, often lone
		func() { fmt.Fprintf(b, `\u%04x\u%04x`, 0xD800+rng.IntN(0x400), 0xDC00+rng.IntN(0x400)) },
		func() { fmt.Fprintf(b, `\u%04x`, rng.IntN(0x20)) },
		func() { b.WriteString(`\b\f\n\r\t`) },
		func() { b.WriteString("café ✓ 😀 \u2028\u2029 \x7f") },
		func() { b.WriteRune(rune(0x80 + rng.IntN(0x10FFFF-0x80))) }, // may be a surrogate: invalid UTF-8
		func() { b.WriteByte(byte(0x80 + rng.IntN(0x80))) },          // a stray byte
		func() { b.Write([]byte{0xe2, 0x82}) },                       // a cut sequence
		func() { b.Write([]byte{0xf0, 0x9f, 0x98}) },
		func() { b.Write([]byte{0xed, 0xa0, 0x80}) }, // an encoded surrogate
		func() { b.WriteString(strings.Repeat("long ascii run ", rng.IntN(8))) },
	}
	b.WriteByte('"')
	for range rng.IntN(6) {
		pieces[rng.IntN(len(pieces))]()
	}
	b.WriteByte('"')
}

// genNumber writes a number whose exact value a double holds in many
// notations (the others are kept as sent, see TestAppendJS).
func genNumber(rng *rand.Rand, b *bytes.Buffer) {
	var f float64
	switch rng.IntN(5) {
	case 0:
		f = float64(rng.IntN(1000)) - 500
	case 1:
		f = float64(rng.Int64N(1 << 53))
	case 2:
		f = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
	case 3:
		f = math.Float64frombits(rng.Uint64()&^(0x7FF<<52) | uint64(rng.IntN(2046)+1)<<52) // any finite double
	default:
		f = float64(rng.IntN(100)) / 8
	}
	var s string
	switch rng.IntN(5) {
	case 0:
		s = strconv.FormatFloat(f, 'g', -1, 64)
	case 1:
		s = strconv.FormatFloat(f, 'e', -1, 64)
	case 2:
		s = strings.ToUpper(strconv.FormatFloat(f, 'e', -1, 64))
	case 3:
		s = strconv.FormatFloat(f, 'f', -1, 64)
	default:
		s = strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += "."
		}
		s += strings.Repeat("0", 1+rng.IntN(3)) // 1.0, 2.500
	}
	b.WriteString(s)
}

// TestAppendJSKeepsValues checks on valid UTF-8 documents that the rewrite
// changes the form only: decoded by Go, the text before and after is the
// same value (numbers compared exactly).
func TestAppendJSKeepsValues(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	for range 3000 {
		var b bytes.Buffer
		genValue(rng, &b, 0)
		if !utf8.Valid(b.Bytes()) {
			continue
		}
		got, err := appendJS(nil, b.Bytes())
		require.NoError(t, err)
		requireSameValue(t, b.Bytes(), got)
	}
}

// requireSameValue fails unless JSON texts a and b decode to the same value
// (numbers by their exact decimal value).
func requireSameValue(t *testing.T, a, b []byte) {
	t.Helper()
	va, vb := decodeExact(t, a), decodeExact(t, b)
	require.Equal(t, va, vb, "%q and %q differ", a, b)
}

func decodeExact(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%q", b)
	return exactNumbers(v)
}

// exactNumbers replaces every json.Number in v with its exact value as a
// reduced fraction.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(e)
		}
	case json.Number:
		return exactDecimal(string(x))
	}
	return v
}

// exactDecimal returns the exact value of a JSON number as a fraction.
func exactDecimal(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "bad number " + s
	}
	return r.RatString()
}

// Large objects: members beyond the writer's stack, repeats found through
// the map, reordering, nesting in between; and a linear cost.
func TestAppendJSLargeObjects(t *testing.T) {
	t.Parallel()
	var in, want bytes.Buffer
	in.WriteString(`{`)
	for i := 299; i >= 0; i-- {
		fmt.Fprintf(&in, `"%d":{"n%d":[%d.0],"x":{"b":1,"a":2}},`, i, i, i)
	}
	for i := range 300 {
		fmt.Fprintf(&in, `"k%d":%d,`, i, i)
	}
	in.WriteString(`"k7":"last"}`)
	want.WriteString(`{`)
	for i := range 300 {
		fmt.Fprintf(&want, `"%d":{"n%d":[%d],"x":{"b":1,"a":2}},`, i, i, i)
	}
	for i := range 300 {
		if i == 7 {
			want.WriteString(`"k7":"last",`)
			continue
		}
		fmt.Fprintf(&want, `"k%d":%d,`, i, i)
	}
	want.Truncate(want.Len() - 1)
	want.WriteString(`}`)
	got, err := appendJS(nil, in.Bytes())
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got))

	// Names only, no repeat, in order: nothing to reorder.
	in.Reset()
	in.WriteString(`{`)
	for i := range 5000 {
		fmt.Fprintf(&in, `"name%d":[{"a":%d}],`, i, i)
	}
	in.WriteString(`"z":0}`)
	got, err = appendJS(nil, in.Bytes())
	require.NoError(t, err)
	require.Equal(t, in.String(), string(got))

	// 20,000 distinct names: each is compared with a bounded number of
	// others, not with every earlier one (which took minutes for 100,000).
	in.Reset()
	in.WriteString(`{`)
	const names = 20000
	for i := range names {
		fmt.Fprintf(&in, `"n%d":0,`, i)
	}
	in.WriteString(`"z":0}`)
	w := jsWriter{src: in.Bytes(), ascii: true}
	require.NoError(t, w.run())
	require.Equal(t, in.String(), string(w.out))
	require.Less(t, w.compared, 64*64, "names compared")
}
