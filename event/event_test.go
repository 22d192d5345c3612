package event

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, name := range Extended() {
		res, act, err := Parse(name)
		require.NoError(t, err, name)
		require.Equal(t, name, res+"."+act)
	}
	for _, bad := range []string{"", "issue", "issue.created.x", ".created", "issue.", "issue.exploded", "foo.bar"} {
		_, _, err := Parse(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "event")
	}
	res, act, err := Parse("error.created")
	require.NoError(t, err)
	require.Equal(t, "error", res)
	require.Equal(t, "created", act)
}

func TestValidIsSubsetOfExtended(t *testing.T) {
	t.Parallel()
	require.Len(t, Valid(), 9)
	require.Len(t, Extended(), 21)
	for _, v := range Valid() {
		require.True(t, isExtended(v), v)
	}
}
