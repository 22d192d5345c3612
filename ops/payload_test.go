package ops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUIPayload(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{"a":1}`, uiPayload("t", []byte(`{"a":1}`)))
	exact := strings.Repeat("a", uiMaxPayload)
	require.Equal(t, exact, uiPayload("t", []byte(exact)))
	big := strings.Repeat("a", 10<<20)
	require.Equal(t, strings.Repeat("a", uiMaxPayload)+"… (10485760 bytes; the first 4096 shown)", uiPayload("t", []byte(big)))
	// A rune across the cut is left out whole.
	split := strings.Repeat("a", uiMaxPayload-1) + "é" + "tail"
	require.Equal(t, strings.Repeat("a", uiMaxPayload-1)+"… (4101 bytes; the first 4095 shown)", uiPayload("t", []byte(split)))
	require.Equal(t, "(3 bytes, not UTF-8 text)", uiPayload("t", []byte{0xff, 0xfe, 0x00}))
}
