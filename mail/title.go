package mail

import (
	"strings"
	"unicode"
)

// Title cases s the way Python's str.title() does, which is how the product
// spec defines the casing of integration names in e-mail subjects and bodies.
//
// Every character that follows a cased character (a letter with case) is
// lower-cased; every other character is title-cased. Digits, punctuation and
// uncased letters therefore start a new "word": "my-app2go" becomes
// "My-App2Go" and "o'neil" becomes "O'Neil". Like Python it applies the full
// Unicode case mappings ("ß" at the start of a word becomes "Ss") and the
// Greek final-sigma rule. Letter properties come from Go's unicode tables, so
// characters added in Unicode versions newer or older than Python's may differ.
func Title(s string) string {
	if s == "" {
		return s
	}
	runes := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	prevCased := false
	for i, r := range runes {
		var mapped string
		if prevCased {
			mapped = lowerFull(runes, i)
		} else {
			mapped = titleFull(r)
		}
		b.WriteString(mapped)
		// Python looks at the input character, not at its mapping.
		prevCased = isCased(r)
	}
	return b.String()
}

// isCased reports whether r has the Unicode "Cased" property
// (Lu, Ll, Lt, Other_Lowercase or Other_Uppercase).
func isCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// isCaseIgnorable reports whether r has the Unicode "Case_Ignorable" property,
// which the final-sigma rule skips over.
func isCaseIgnorable(r rune) bool {
	switch r {
	// Word_Break=Single_Quote, MidLetter and MidNumLet.
	case '\'', '.', ':', '\u00B7', '\u0387', '\u055F', '\u05F4', '\u2018',
		'\u2019', '\u2024', '\u2027', '\uFE13', '\uFE52', '\uFE55', '\uFF07',
		'\uFF0E', '\uFF1A':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// lowerFull returns the full lower-case mapping of runes[i], applying the
// final-sigma rule for U+03A3 the way Python's str.lower() and str.title() do.
func lowerFull(runes []rune, i int) string {
	switch r := runes[i]; r {
	case '\u0130': // LATIN CAPITAL LETTER I WITH DOT ABOVE
		return "i\u0307"
	case '\u03A3': // GREEK CAPITAL LETTER SIGMA
		if isFinalSigma(runes, i) {
			return "\u03C2"
		}
		return "\u03C3"
	default:
		return string(unicode.ToLower(r))
	}
}

// isFinalSigma reports whether the sigma at runes[i] ends a word: it is
// preceded by a cased letter and not followed by one, ignoring
// case-ignorable characters in both directions.
func isFinalSigma(runes []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(runes[j]) {
		j--
	}
	if j < 0 || !isCased(runes[j]) {
		return false
	}
	j = i + 1
	for j < len(runes) && isCaseIgnorable(runes[j]) {
		j++
	}
	return j == len(runes) || !isCased(runes[j])
}

// titleFull returns the full title-case mapping of r: the unconditional
// multi-character mappings of Unicode's SpecialCasing.txt, else the simple
// mapping from the unicode package.
func titleFull(r rune) string {
	switch r {
	case '\u00DF':
		return "Ss"
	case '\u0149':
		return "\u02BCN"
	case '\u01F0':
		return "J\u030C"
	case '\u0390':
		return "\u0399\u0308\u0301"
	case '\u03B0':
		return "\u03A5\u0308\u0301"
	case '\u0587':
		return "\u0535\u0582"
	case '\u1E96':
		return "H\u0331"
	case '\u1E97':
		return "T\u0308"
	case '\u1E98':
		return "W\u030A"
	case '\u1E99':
		return "Y\u030A"
	case '\u1E9A':
		return "A\u02BE"
	case '\u1F50':
		return "\u03A5\u0313"
	case '\u1F52':
		return "\u03A5\u0313\u0300"
	case '\u1F54':
		return "\u03A5\u0313\u0301"
	case '\u1F56':
		return "\u03A5\u0313\u0342"
	case '\u1FB2':
		return "\u1FBA\u0345"
	case '\u1FB4':
		return "\u0386\u0345"
	case '\u1FB6':
		return "\u0391\u0342"
	case '\u1FB7':
		return "\u0391\u0342\u0345"
	case '\u1FC2':
		return "\u1FCA\u0345"
	case '\u1FC4':
		return "\u0389\u0345"
	case '\u1FC6':
		return "\u0397\u0342"
	case '\u1FC7':
		return "\u0397\u0342\u0345"
	case '\u1FD2':
		return "\u0399\u0308\u0300"
	case '\u1FD3':
		return "\u0399\u0308\u0301"
	case '\u1FD6':
		return "\u0399\u0342"
	case '\u1FD7':
		return "\u0399\u0308\u0342"
	case '\u1FE2':
		return "\u03A5\u0308\u0300"
	case '\u1FE3':
		return "\u03A5\u0308\u0301"
	case '\u1FE4':
		return "\u03A1\u0313"
	case '\u1FE6':
		return "\u03A5\u0342"
	case '\u1FE7':
		return "\u03A5\u0308\u0342"
	case '\u1FF2':
		return "\u1FFA\u0345"
	case '\u1FF4':
		return "\u038F\u0345"
	case '\u1FF6':
		return "\u03A9\u0342"
	case '\u1FF7':
		return "\u03A9\u0342\u0345"
	case '\uFB00':
		return "Ff"
	case '\uFB01':
		return "Fi"
	case '\uFB02':
		return "Fl"
	case '\uFB03':
		return "Ffi"
	case '\uFB04':
		return "Ffl"
	case '\uFB05', '\uFB06':
		return "St"
	case '\uFB13':
		return "\u0544\u0576"
	case '\uFB14':
		return "\u0544\u0565"
	case '\uFB15':
		return "\u0544\u056B"
	case '\uFB16':
		return "\u054E\u0576"
	case '\uFB17':
		return "\u0544\u056D"
	default:
		return string(unicode.ToTitle(r))
	}
}
