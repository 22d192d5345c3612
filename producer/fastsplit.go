package producer

import "encoding/json"

// splitFast is Decode's fast path for the payloads producers write: one
// validating pass over b that picks the raw values of the payload's keys
// from its top-level object, several times faster than encoding/json's
// decoder (which runs a function call per byte and copies every value).
//
// It reports false — and Decode falls back to split, whose answer and
// error messages are the reference — for anything it does not handle
// exactly as split does: invalid JSON, a top-level value other than an
// object, a key with an escape or a byte outside printable ASCII (split
// compares keys after unescaping), a repeated key (split's error names
// it), or nesting deeper than MaxJSONDepth, the top-level object included
// (so Decode's depth guard holds for what it accepts). When it reports true, its
// fields equal split's (FuzzDecodeFast checks it), except that they are
// sub-slices of b rather than copies.
func splitFast(b []byte) (rawFields, bool) {
	var raw rawFields
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return raw, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return raw, skipSpace(b, i+1) == len(b)
	}
	// The keys seen so far, to refuse a repeat as split does (payloads
	// have a handful of keys: a linear search is the fastest).
	var seenBuf [8][]byte
	seen := seenBuf[:0]
	for {
		// A key starts at i.
		if i >= len(b) || b[i] != '"' {
			return raw, false
		}
		start := i + 1
		for i = start; i < len(b) && b[i] != '"'; i++ {
			if c := b[i]; c < 0x20 || c >= 0x7f || c == '\\' {
				return raw, false
			}
		}
		if i >= len(b) {
			return raw, false
		}
		key := b[start:i]
		for _, k := range seen {
			if string(k) == string(key) {
				return raw, false
			}
		}
		seen = append(seen, key)
		i = skipSpace(b, i+1)
		if i >= len(b) || b[i] != ':' {
			return raw, false
		}
		i = skipSpace(b, i+1)
		vstart := i
		var ok bool
		if i, ok = scanValue(b, i); !ok {
			return raw, false
		}
		v := json.RawMessage(b[vstart:i:i])
		raw.set(string(key), v)
		i = skipSpace(b, i)
		if i >= len(b) {
			return raw, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return raw, skipSpace(b, i+1) == len(b)
		default:
			return raw, false
		}
	}
}

// plainString returns the text of raw, a JSON string, when it has no
// escape and only printable ASCII — what json.Unmarshal would return for
// it — and false for any other value.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return "", false
		}
	}
	return string(s), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanValue checks the JSON value starting at b[i] (no leading space) and
// returns the index just past it. Like encoding/json's scanner it lets any
// byte but a control character through in strings; unlike it, it refuses
// nesting deeper than MaxJSONDepth-1 (the value sits in the payload's
// object, and Decode refuses a deeper payload anyway).
func scanValue(b []byte, i int) (int, bool) {
	var buf [MaxJSONDepth - 1]byte
	stack := buf[:0] // the closing byte of each open container
	var ok bool
	for {
		// A value starts at i.
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == cap(stack) {
				return 0, false
			}
			closing := byte('}')
			if c == '[' {
				closing = ']'
			}
			stack = append(stack, closing)
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closing {
				stack = stack[:len(stack)-1]
				i++
				break // an empty container is a complete value
			}
			if c == '{' {
				if i, ok = scanKey(b, i); !ok {
					return 0, false
				}
			}
			continue // its first member's value
		case '"':
			if i, ok = scanString(b, i); !ok {
				return 0, false
			}
		case 't':
			if i, ok = scanLiteral(b, i, "true"); !ok {
				return 0, false
			}
		case 'f':
			if i, ok = scanLiteral(b, i, "false"); !ok {
				return 0, false
			}
		case 'n':
			if i, ok = scanLiteral(b, i, "null"); !ok {
				return 0, false
			}
		default:
			if i, ok = scanNumber(b, i); !ok {
				return 0, false
			}
		}
		// A value ended just before i: close containers until a comma
		// announces the next value.
		for {
			if len(stack) == 0 {
				return i, true
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			top := stack[len(stack)-1]
			if b[i] == top {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipSpace(b, i+1)
			if top == '}' {
				if i, ok = scanKey(b, i); !ok {
					return 0, false
				}
			}
			break
		}
	}
}

// scanKey checks `"key" :` at b[i] and returns the index of the value
// after it (past any space).
func scanKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, ok := scanString(b, i)
	if !ok {
		return 0, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return skipSpace(b, i+1), true
}

// scanString checks the string starting at b[i] == '"' and returns the
// index just past it. Like encoding/json, it refuses control characters and
// bad escapes and lets any other byte through.
func scanString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		switch c {
		case '"':
			return i + 1, true
		case '\\':
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return 0, false
				}
				i += 4
			default:
				return 0, false
			}
		default: // a control character
			return 0, false
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanLiteral checks that b[i:] starts with lit, not followed by more
// letters (encoding/json reads "nullx" as an error too: the byte after a
// value must be space, a comma or a closing bracket, which the caller
// checks).
func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// scanNumber checks the number at b[i] (-?int frac? exp?) and returns the
// index just past it.
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
