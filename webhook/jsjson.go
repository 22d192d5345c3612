package webhook

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// This file writes JSON the way JavaScript's JSON.stringify(JSON.parse(text))
// does, so that a receiver which checks the signature over its own
// re-encoding of the parsed body (Sentry's example integration does) gets
// the bytes hookworker signed:
//
//   - strings: raw UTF-8, only `"`, `\` and control characters escaped
//     (\b \f \n \r \t, else \u00xx in lowercase hex); `/` `<` `>` `&` and
//     U+2028/U+2029 raw; a lone surrogate escape as \udxxx; invalid UTF-8
//     as U+FFFD, one per maximal ill-formed subsequence as a UTF-8 decoder
//     following the WHATWG Encoding Standard (Node's) replaces it;
//   - numbers: as Number.prototype.toString writes the double they parse
//     to (1.0 → 1, 1E2 → 100, 1e21 → 1e+21, -0 → 0), but only when that text
//     has exactly the decimal value the producer wrote; a number a double
//     cannot hold (integers beyond 2^53 that are not a double, more than 17
//     significant digits, out of range) is kept as sent, its value intact;
//   - objects: one member per name (the last value, at the first name's
//     place), array-index names ("0" to "4294967294", without leading
//     zeros) first in ascending numeric order, then the other names in
//     their order;
//   - no whitespace.

// maxNesting bounds the nesting of objects and arrays, as encoding/json's
// does (task payloads are held to far less by their decoder).
const maxNesting = 10000

// manyMembers is the size from which an object's names are checked for
// repeats with a map rather than a bloom filter and a scan.
const manyMembers = 64

// notIndex marks a member name that is not an array index: 2^32-1 is the
// first integer that is not one.
const notIndex = math.MaxUint32

// member is one object member written to jsWriter.out: the name with its
// quotes at out[keyStart:keyEnd], a ':' and the value up to valEnd.
type member struct {
	keyStart, keyEnd, valEnd int
	index                    uint32 // the array index the name is, or notIndex
}

// jsWriter is one rewrite of a JSON text into JavaScript's form.
type jsWriter struct {
	src   []byte
	i     int
	out   []byte
	depth int
	// ascii is false when src is not valid UTF-8: strings then check every
	// byte of 0x80 and above.
	ascii bool
	// The members of the objects being written, innermost last: n of them,
	// the first ones in stack, the others in spill. Writers are pooled
	// (writers), so neither costs an allocation per body, and a 4 KiB
	// array on the delivery goroutine's stack would make the runtime grow
	// and copy that stack for every delivery.
	stack [128]member
	spill []member
	n     int
	// compared counts the names named compared, which tests bound.
	compared int
}

func (w *jsWriter) push(m member) {
	if w.n < len(w.stack) {
		w.stack[w.n] = m
	} else {
		w.spill = append(w.spill, m)
	}
	w.n++
}

func (w *jsWriter) member(i int) member {
	if i < len(w.stack) {
		return w.stack[i]
	}
	return w.spill[i-len(w.stack)]
}

// truncate forgets the members from n on.
func (w *jsWriter) truncate(n int) {
	w.n = n
	w.spill = w.spill[:max(0, n-len(w.stack))]
}

// errSyntax is wrapped by every error about malformed JSON.
var errSyntax = errors.New("not valid JSON")

// appendJS appends the JSON text src in JavaScript's form (see above) to out.
// It fails when src is not exactly one JSON value (whitespace around it is
// allowed).
func appendJS(out, src []byte) ([]byte, error) {
	w := writers.Get().(*jsWriter)
	defer w.release()
	w.src, w.i, w.out, w.depth, w.ascii, w.n, w.compared = src, 0, out, 0, utf8.Valid(src), 0, 0
	w.spill = w.spill[:0]
	if err := w.run(); err != nil {
		return out, err
	}
	return w.out, nil
}

// writers holds idle jsWriters; a pool is a cache, not state: any writer
// is as good as a new one once appendJS has reset it.
var writers = sync.Pool{New: func() any { return new(jsWriter) }}

// maxPooledSpill is the largest spill a pooled writer keeps (members), so
// one huge body does not pin its buffer.
const maxPooledSpill = 4096

// release drops w's references to the caller's buffers and pools it.
func (w *jsWriter) release() {
	w.src, w.out = nil, nil
	if cap(w.spill) > maxPooledSpill {
		w.spill = nil
	}
	writers.Put(w)
}

// run writes w.src to w.out.
func (w *jsWriter) run() error {
	w.skipSpace()
	if err := w.value(); err != nil {
		return err
	}
	w.skipSpace()
	if w.i != len(w.src) {
		return w.syntax("after the value")
	}
	return nil
}

func (w *jsWriter) syntax(what string) error {
	return fmt.Errorf("%w: unexpected %s at offset %d", errSyntax, what, w.i)
}

func (w *jsWriter) skipSpace() {
	for w.i < len(w.src) {
		switch w.src[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *jsWriter) value() error {
	if w.i >= len(w.src) {
		return w.syntax("end")
	}
	switch c := w.src[w.i]; c {
	case '{':
		return w.object()
	case '[':
		return w.array()
	case '"':
		return w.string()
	case 't':
		return w.literal("true")
	case 'f':
		return w.literal("false")
	case 'n':
		return w.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return w.number()
		}
		return w.syntax(fmt.Sprintf("character %q", c))
	}
}

func (w *jsWriter) literal(lit string) error {
	if len(w.src)-w.i < len(lit) || string(w.src[w.i:w.i+len(lit)]) != lit {
		return w.syntax("literal")
	}
	w.out = append(w.out, lit...)
	w.i += len(lit)
	return nil
}

func (w *jsWriter) enter() error {
	w.depth++
	if w.depth > maxNesting {
		return fmt.Errorf("%w: nested deeper than %d levels", errSyntax, maxNesting)
	}
	return nil
}

func (w *jsWriter) array() error {
	if err := w.enter(); err != nil {
		return err
	}
	w.out = append(w.out, '[')
	w.i++
	w.skipSpace()
	if w.i < len(w.src) && w.src[w.i] == ']' {
		w.i++
		w.out = append(w.out, ']')
		w.depth--
		return nil
	}
	for {
		if err := w.value(); err != nil {
			return err
		}
		w.skipSpace()
		if w.i >= len(w.src) {
			return w.syntax("end in an array")
		}
		switch w.src[w.i] {
		case ',':
			w.out = append(w.out, ',')
			w.i++
			w.skipSpace()
		case ']':
			w.out = append(w.out, ']')
			w.i++
			w.depth--
			return nil
		default:
			return w.syntax("character in an array")
		}
	}
}

func (w *jsWriter) object() error {
	if err := w.enter(); err != nil {
		return err
	}
	start := len(w.out)
	w.out = append(w.out, '{')
	w.i++
	w.skipSpace()
	if w.i < len(w.src) && w.src[w.i] == '}' {
		w.i++
		w.out = append(w.out, '}')
		w.depth--
		return nil
	}
	base := w.n
	// reorder is set once JavaScript's order differs from the order
	// written: an index name after another name or a larger index, or a
	// repeated name. A bloom filter of the other names keeps the check for
	// repeats near one hash per name.
	reorder := false
	var seen [8]uint64
	var names map[string]struct{} // replaces seen in objects of many members
	last, named := int64(-1), false
	for {
		if w.i >= len(w.src) || w.src[w.i] != '"' {
			return w.syntax("character for an object's name")
		}
		m := member{keyStart: len(w.out)}
		if err := w.string(); err != nil {
			return err
		}
		m.keyEnd = len(w.out)
		w.skipSpace()
		if w.i >= len(w.src) || w.src[w.i] != ':' {
			return w.syntax("character after an object's name")
		}
		w.i++
		w.out = append(w.out, ':')
		w.skipSpace()
		if err := w.value(); err != nil {
			return err
		}
		m.valEnd = len(w.out)
		name := w.out[m.keyStart+1 : m.keyEnd-1]
		m.index = arrayIndex(name)
		switch {
		case reorder:
		case m.index != notIndex:
			reorder = named || int64(m.index) <= last
			last = int64(m.index)
		default:
			named = true
			key := w.out[m.keyStart:m.keyEnd]
			if names != nil {
				_, reorder = names[string(key)]
				names[string(key)] = struct{}{}
				break
			}
			h := nameHash(name)
			if seen[h>>6]&(1<<(h&63)) != 0 {
				reorder = w.named(base, key)
			}
			seen[h>>6] |= 1 << (h & 63)
			if w.n-base >= manyMembers {
				// The filter fills up: a set keeps the check for repeats
				// linear in large objects.
				names = make(map[string]struct{}, 2*manyMembers)
				for i := base; i < w.n; i++ {
					mi := w.member(i)
					names[string(w.out[mi.keyStart:mi.keyEnd])] = struct{}{}
				}
				names[string(key)] = struct{}{}
			}
		}
		w.push(m)

		w.skipSpace()
		if w.i >= len(w.src) {
			return w.syntax("end in an object")
		}
		switch w.src[w.i] {
		case ',':
			w.out = append(w.out, ',')
			w.i++
			w.skipSpace()
			continue
		case '}':
			w.i++
		default:
			return w.syntax("character in an object")
		}
		break
	}
	w.out = append(w.out, '}')
	if reorder {
		w.reorder(start, base)
	}
	w.truncate(base)
	w.depth--
	return nil
}

// named reports whether an earlier member from base on has the quoted name
// key.
func (w *jsWriter) named(base int, key []byte) bool {
	for i := base; i < w.n; i++ {
		w.compared++
		m := w.member(i)
		if m.keyEnd-m.keyStart == len(key) && string(w.out[m.keyStart:m.keyEnd]) == string(key) {
			return true
		}
	}
	return false
}

// reorder rewrites the object written at out[start:] from its members
// (from base on) in JavaScript's order: one member per name, with the last value and the
// place of the first; array indexes first, ascending; then the other names
// in order. Names are compared in their written form, which is one per
// string.
func (w *jsWriter) reorder(start, base int) {
	region := slices.Clone(w.out[start:])
	keep := make([]member, 0, w.n-base)
	at := make(map[string]int, w.n-base)
	for i := base; i < w.n; i++ {
		m := w.member(i)
		name := string(w.out[m.keyStart:m.keyEnd])
		if i, ok := at[name]; ok {
			keep[i] = m
			continue
		}
		at[name] = len(keep)
		keep = append(keep, m)
	}
	slices.SortStableFunc(keep, func(a, b member) int {
		// notIndex sorts after every index, and names stay in order.
		switch {
		case a.index < b.index:
			return -1
		case a.index > b.index:
			return 1
		}
		return 0
	})
	w.out = append(w.out[:start], '{')
	for i, m := range keep {
		if i > 0 {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, region[m.keyStart-start:m.valEnd-start]...)
	}
	w.out = append(w.out, '}')
}

// arrayIndex returns the array index a member name is in JavaScript (the
// canonical decimal form of an integer from 0 to 2^32-2), or notIndex.
func arrayIndex(name []byte) uint32 {
	if len(name) == 0 || len(name) > 10 || (name[0] == '0' && len(name) > 1) {
		return notIndex
	}
	var n uint64
	for _, c := range name {
		if c < '0' || c > '9' {
			return notIndex
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= notIndex {
		return notIndex
	}
	return uint32(n)
}

// nameHash is the hash of the bloom filter of names: their length and up
// to their first and last eight bytes, in constant time.
func nameHash(b []byte) uint64 {
	var head, tail uint64
	if len(b) >= 8 {
		head = binary.LittleEndian.Uint64(b)
		tail = binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		for i, c := range b {
			head |= uint64(c) << (8 * i)
		}
	}
	h := (head^uint64(len(b)))*0x9E3779B97F4A7C15 ^ tail*0xC2B2AE3D27D4EB4F
	return h >> 55 // 9 bits
}

// string writes the JSON string at src[i] == '"' in JavaScript's form.
func (w *jsWriter) string() error {
	src := w.src
	i := w.i + 1
	w.out = append(w.out, '"')
	for {
		j := plainRun(src, i, w.ascii)
		w.out = append(w.out, src[i:j]...)
		if j >= len(src) {
			w.i = j
			return w.syntax("end in a string")
		}
		switch c := src[j]; {
		case c == '"':
			w.out = append(w.out, '"')
			w.i = j + 1
			return nil
		case c == '\\':
			next, err := w.escape(j)
			if err != nil {
				return err
			}
			i = next
		case c < 0x20:
			w.i = j
			return w.syntax("control character in a string")
		default: // 0x80 and above in a text that is not all valid UTF-8
			r, n := utf8.DecodeRune(src[j:])
			if r == utf8.RuneError && n <= 1 {
				w.out = append(w.out, "\uFFFD"...)
				n = illFormed(src[j:])
			} else {
				w.out = append(w.out, src[j:j+n]...)
			}
			i = j + n
		}
	}
}

// escape writes the escape sequence at src[j] == '\\' and returns the index
// after it: a pair of surrogate escapes as one character, everything else
// as JavaScript writes the UTF-16 code unit it stands for.
func (w *jsWriter) escape(j int) (int, error) {
	src := w.src
	if j+1 >= len(src) {
		w.i = j
		return 0, w.syntax("end in an escape")
	}
	switch src[j+1] {
	case '"':
		w.out = append(w.out, '\\', '"')
	case '\\':
		w.out = append(w.out, '\\', '\\')
	case '/':
		w.out = append(w.out, '/')
	case 'b':
		w.out = append(w.out, '\\', 'b')
	case 'f':
		w.out = append(w.out, '\\', 'f')
	case 'n':
		w.out = append(w.out, '\\', 'n')
	case 'r':
		w.out = append(w.out, '\\', 'r')
	case 't':
		w.out = append(w.out, '\\', 't')
	case 'u':
		r, ok := hex4(src, j+2)
		if !ok {
			w.i = j
			return 0, w.syntax("\\u escape")
		}
		j += 6
		if 0xD800 <= r && r < 0xDC00 && j+1 < len(src) && src[j] == '\\' && src[j+1] == 'u' {
			if lo, ok := hex4(src, j+2); ok && 0xDC00 <= lo && lo < 0xE000 {
				w.out = utf8.AppendRune(w.out, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
				return j + 6, nil
			}
		}
		w.out = appendCodeUnit(w.out, r)
		return j, nil
	default:
		w.i = j
		return 0, w.syntax("escape")
	}
	return j + 2, nil
}

// appendCodeUnit writes the UTF-16 code unit r (not half of a pair) as
// JSON.stringify does.
func appendCodeUnit(out []byte, r rune) []byte {
	switch {
	case r < 0x20:
		return appendControl(out, byte(r))
	case r == '"' || r == '\\':
		return append(out, '\\', byte(r))
	case 0xD800 <= r && r < 0xE000: // a lone surrogate
		const hex = "0123456789abcdef"
		return append(out, '\\', 'u', hex[r>>12], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	return utf8.AppendRune(out, r)
}

// appendControl writes the control character c (< 0x20) as JavaScript
// escapes it.
func appendControl(out []byte, c byte) []byte {
	switch c {
	case '\b':
		return append(out, '\\', 'b')
	case '\t':
		return append(out, '\\', 't')
	case '\n':
		return append(out, '\\', 'n')
	case '\f':
		return append(out, '\\', 'f')
	case '\r':
		return append(out, '\\', 'r')
	}
	const hex = "0123456789abcdef"
	return append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
}

// hex4 decodes the four hex digits at src[i:].
func hex4(src []byte, i int) (rune, bool) {
	if i+4 > len(src) {
		return 0, false
	}
	var r rune
	for _, c := range src[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// illFormed returns the length of the maximal ill-formed subsequence at the
// start of b, which holds no valid UTF-8 character there: a lead byte and
// the continuation bytes that could still have completed it, or one byte.
// A WHATWG UTF-8 decoder (Node's, browsers') replaces each such subsequence
// with one U+FFFD; Go's decoder would replace every byte.
func illFormed(b []byte) int {
	lo, hi, need := byte(0x80), byte(0xBF), 0
	switch c := b[0]; {
	case 0xC2 <= c && c <= 0xDF:
		need = 1
	case c == 0xE0:
		lo, need = 0xA0, 2
	case c == 0xED:
		hi, need = 0x9F, 2
	case 0xE1 <= c && c <= 0xEF:
		need = 2
	case c == 0xF0:
		lo, need = 0x90, 3
	case c == 0xF4:
		hi, need = 0x8F, 3
	case 0xF1 <= c && c <= 0xF3:
		need = 3
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}

const (
	lsbs = 0x0101010101010101
	msbs = 0x8080808080808080
)

// plainRun returns the index of the first byte from src[i] on that a
// string cannot copy as it is: `"`, `\`, a control character and, unless
// src is all valid UTF-8 (ascii), any byte of 0x80 and above; len(src) if
// none. It looks at eight bytes at a time.
func plainRun(src []byte, i int, ascii bool) int {
	for ; i+8 <= len(src); i += 8 {
		x := binary.LittleEndian.Uint64(src[i:])
		// The high bit of a byte of m is set for the first byte below 0x20,
		// equal to '"' or '\\' (and maybe for later ones, through borrows).
		m := ((x - lsbs*0x20) | ((x ^ lsbs*'"') - lsbs) | ((x ^ lsbs*'\\') - lsbs)) &^ x & msbs
		if !ascii {
			m |= x & msbs
		}
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(src); i++ {
		c := src[i]
		if c < 0x20 || c == '"' || c == '\\' || (c >= 0x80 && !ascii) {
			return i
		}
	}
	return i
}

// appendJSString writes s as JSON.stringify writes the string a UTF-8
// decoder makes of s.
func appendJSString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x80 && c != '"' && c != '\\':
			out = append(out, c)
			i++
		case c < 0x80:
			out = appendCodeUnit(out, rune(c))
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				out = append(out, "\uFFFD"...)
				n = illFormed([]byte(s[i:min(len(s), i+4)]))
			} else {
				out = append(out, s[i:i+n]...)
			}
			i += n
		}
	}
	return append(out, '"')
}

// number writes the JSON number at src[i].
func (w *jsWriter) number() error {
	src := w.src
	start, i := w.i, w.i
	if src[i] == '-' {
		i++
	}
	digits := i
	switch {
	case i >= len(src):
		return w.syntax("end in a number")
	case src[i] == '0':
		i++
	case '1' <= src[i] && src[i] <= '9':
		i = skipDigits(src, i+1)
	default:
		w.i = i
		return w.syntax("character in a number")
	}
	intEnd := i
	if i < len(src) && src[i] == '.' {
		j := skipDigits(src, i+1)
		if j == i+1 {
			w.i = j
			return w.syntax("character in a number")
		}
		i = j
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := skipDigits(src, i)
		if j == i {
			w.i = j
			return w.syntax("character in a number")
		}
		i = j
	}
	w.i = i
	tok := src[start:i]
	// An integer of at most 15 digits other than -0 is a double that
	// JavaScript writes the same way: the common case, copied.
	if i == intEnd && intEnd-digits <= 15 && (src[digits] != '0' || start == digits) {
		w.out = append(w.out, tok...)
		return nil
	}
	w.out = appendJSNumber(w.out, tok)
	return nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// appendJSNumber writes the valid JSON number tok as JavaScript's
// Number.prototype.toString writes the double it parses to, when that text
// has exactly tok's value; otherwise tok as it is (a JavaScript receiver
// would change its value).
func appendJSNumber(out, tok []byte) []byte {
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil || math.IsInf(f, 0) {
		return append(out, tok...)
	}
	if f == 0 { // -0 too, which JavaScript writes as 0
		if decimalIsZero(tok) {
			return append(out, '0')
		}
		return append(out, tok...) // an underflow
	}
	var buf [32]byte
	// d.ddde±xx: the shortest digits that parse back to f, as JavaScript
	// chooses them.
	e := strconv.AppendFloat(buf[:0], math.Abs(f), 'e', -1, 64)
	x := 0
	for e[x] != 'e' {
		x++
	}
	exp, _ := strconv.Atoi(string(e[x+1:]))
	mant := e[:x]
	sig := buf[len(e):len(e)]
	sig = append(sig, mant[0])
	if len(mant) > 2 {
		sig = append(sig, mant[2:]...)
	}
	point := exp + 1 // the value is 0.sig × 10^point
	if !sameDecimal(tok, sig, point) {
		return append(out, tok...)
	}
	if f < 0 {
		out = append(out, '-')
	}
	return appendJSDecimal(out, sig, point)
}

// appendJSDecimal writes 0.digits × 10^point (digits without leading or
// trailing zeros) as Number::toString does (ECMA-262, radix 10).
func appendJSDecimal(out, digits []byte, point int) []byte {
	k, n := len(digits), point
	switch {
	case k <= n && n <= 21:
		out = append(out, digits...)
		for range n - k {
			out = append(out, '0')
		}
	case 0 < n && n <= 21:
		out = append(out, digits[:n]...)
		out = append(out, '.')
		out = append(out, digits[n:]...)
	case -6 < n && n <= 0:
		out = append(out, '0', '.')
		for range -n {
			out = append(out, '0')
		}
		out = append(out, digits...)
	default:
		out = append(out, digits[0])
		if k > 1 {
			out = append(out, '.')
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if n-1 > 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, int64(n-1), 10)
	}
	return out
}

// decimalIsZero reports whether the JSON number tok has no non-zero digit
// before its exponent.
func decimalIsZero(tok []byte) bool {
	for _, c := range tok {
		switch {
		case c == 'e' || c == 'E':
			return true
		case '1' <= c && c <= '9':
			return false
		}
	}
	return true
}

// sameDecimal reports whether the JSON number tok (sign aside) is exactly
// 0.sig × 10^point, sig being digits without leading or trailing zeros.
func sameDecimal(tok, sig []byte, point int) bool {
	i := 0
	if tok[0] == '-' {
		i++
	}
	// Collect tok's digits without the point: intDigits of them come before
	// it.
	intDigits, exp := 0, 0
	var m []byte // tok's digits, a sub-slice when there is no fraction
	end := i
	for end < len(tok) && tok[end] >= '0' && tok[end] <= '9' {
		end++
	}
	intDigits = end - i
	m = tok[i:end]
	var frac []byte
	if end < len(tok) && tok[end] == '.' {
		fe := end + 1
		for fe < len(tok) && tok[fe] >= '0' && tok[fe] <= '9' {
			fe++
		}
		frac = tok[end+1 : fe]
		end = fe
	}
	if end < len(tok) { // the exponent
		v, err := strconv.Atoi(string(tok[end+1:]))
		if err != nil {
			return false // beyond any double's exponent
		}
		exp = v
	}
	// digit(k) is the k-th digit of int digits followed by fraction digits.
	total := intDigits + len(frac)
	digit := func(k int) byte {
		if k < intDigits {
			return m[k]
		}
		return frac[k-intDigits]
	}
	first := 0
	for first < total && digit(first) == '0' {
		first++
	}
	last := total
	for last > first && digit(last-1) == '0' {
		last--
	}
	if last-first != len(sig) || intDigits-first+exp != point {
		return false
	}
	for k := range sig {
		if digit(first+k) != sig[k] {
			return false
		}
	}
	return true
}
