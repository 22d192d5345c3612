package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, two levels above this package.
const root = "../.."

// linkRE matches the target of an inline Markdown link or image: ](target).
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// headingRE matches an ATX heading line.
var headingRE = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)

// docs returns README.md and every Markdown file under docs/.
func docs(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// stripCode removes fenced code blocks, whose "links" are not links.
func stripCode(s string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			b.WriteString("\n")
			continue
		}
		if in {
			b.WriteString("\n")
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// slug is GitHub's anchor for a heading: lower case, markup and punctuation
// dropped, spaces turned into hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of the headings of a Markdown file, with
// GitHub's -1, -2 … suffixes for repeated headings.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(stripCode(text), -1) {
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[s+"-"+itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

// TestRelativeLinksResolve: every relative link in README.md and docs/
// names a file of the repository and, with #anchor, one of its headings.
func TestRelativeLinksResolve(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, file := range docs(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, file)
		for _, m := range linkRE.FindAllStringSubmatch(stripCode(string(raw)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), path)
				full, err := filepath.Abs(dest)
				if err != nil {
					t.Fatal(err)
				}
				if full != abs && !strings.HasPrefix(full, abs+string(filepath.Separator)) {
					t.Errorf("%s: link %q leaves the repository", name, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: no such file", name, target)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %q: an anchor into a file that is not Markdown", name, target)
				continue
			}
			text, err := os.ReadFile(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(text))[anchor] {
				t.Errorf("%s: link %q: no heading with anchor #%s", name, target, anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the pattern is broken")
	}
}

// TestNoOutsideDocuments: the project's documents describe the behaviour
// themselves and never send readers to documents outside the repository.
func TestNoOutsideDocuments(t *testing.T) {
	for _, file := range docs(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lower := strings.ToLower(string(raw))
		for _, bad := range []string{"flow.md", "performance.md", "interfaces.md", "notes.md", "the spec", "../shared"} {
			if strings.Contains(lower, bad) {
				name, _ := filepath.Rel(root, file)
				t.Errorf("%s mentions %q, which is not part of the repository", name, bad)
			}
		}
	}
}

// TestSlug pins the anchor rule on headings the documents use.
func TestSlug(t *testing.T) {
	for h, want := range map[string]string{
		"Tests": "tests",
		"Walkthrough: deliver a webhook to your machine":         "walkthrough-deliver-a-webhook-to-your-machine",
		"Hookworker-Delivery-ID: de-duplicating on the receiver": "hookworker-delivery-id-de-duplicating-on-the-receiver",
		"docker compose: PostgreSQL, Redis, Mailpit":             "docker-compose-postgresql-redis-mailpit",
		"The network guard (SSRF)":                               "the-network-guard-ssrf",
		"Exactly once, and the one remaining window":             "exactly-once-and-the-one-remaining-window",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}
