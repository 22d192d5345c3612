package mail

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTitle(t *testing.T) {
	// Expected values are what Python 3's str.title() returns.
	tests := []struct {
		in, want string
	}{
		{"my-app2go", "My-App2Go"},
		{"hello world", "Hello World"},
		{"HELLO WORLD", "Hello World"},
		{"ÄBC déf", "Äbc Déf"},
		{"o'neil", "O'Neil"},
		{"", ""},
		{"1st 2ND", "1St 2Nd"},
		{"snake_case_name", "Snake_Case_Name"},
		{"  spaced  out ", "  Spaced  Out "},
		{"ßen", "Ssen"},          // full case mapping
		{"ﬁne", "Fine"},          // ligature
		{"ǆemal", "ǅemal"},       // title-case letter, not upper-case
		{"ΣΑΣ ΣΑΣ.", "Σας Σας."}, // final sigma
		{"İstanbul", "İstanbul"},
		{"AİB", "Ai̇b"},
		{"日本app", "日本App"}, // uncased letters start a new word
		{"ʰa", "ʰa"},       // modifier letter with Other_Lowercase is cased
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, Title(tc.in))
		})
	}
}
