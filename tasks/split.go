package tasks

import (
	"encoding/json"
	"strings"
)

// splitObject is the fast path of DecodeResourceChange: given b that
// scanJSON found valid, it picks the raw values of the payload's fields
// from its top-level object in one walk, without decoding them. It reports
// false — and the caller falls back to encoding/json — for anything but a
// plain object: another top-level value, or a key with escapes or that
// matches a field only case-insensitively (encoding/json would accept it;
// the rare case is left to it).
func splitObject(b []byte) (rawResourceChange, bool) {
	var raw rawResourceChange
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return raw, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return raw, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return raw, false
		}
		end := skipString(b, i)
		key := b[i+1 : end-1]
		for _, c := range key {
			if c == '\\' {
				return raw, false
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return raw, false
		}
		i = skipSpace(b, i+1)
		start := i
		i = skipValue(b, i)
		val := json.RawMessage(b[start:i])
		switch string(key) {
		case "installation_id":
			raw.InstallationID = val
		case "event":
			raw.Event = val
		case "data":
			raw.Data = val
		case "project_id":
			raw.ProjectID = val
		case "actor":
			raw.Actor = val
		default:
			for _, f := range [...]string{"installation_id", "event", "data", "project_id", "actor"} {
				if strings.EqualFold(string(key), f) {
					return raw, false
				}
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return raw, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return raw, true
		default:
			return raw, false
		}
	}
	return raw, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the (valid) JSON value at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}
