// Package doccheck holds only tests: they check that README.md and docs/
// agree with the repository (every relative link resolves to a file and,
// where one is named, a heading).
package doccheck
