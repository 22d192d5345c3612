package ops

import (
	"fmt"
	"unicode/utf8"

	"github.com/hibiken/asynqmon"
)

// uiMaxPayload is how much of a task's payload (or result) the queue UI
// shows. asynqmon shows them whole by default: a page of twenty archived
// 10 MB tasks became a 210 MB JSON answer and cost the worker 1.5 GB of
// memory.
const uiMaxPayload = 4 << 10

// uiPayload is the queue UI's payload and result formatter: the first
// uiMaxPayload bytes (cut on a rune boundary) and the full size, or a note
// for bytes that are not text.
func uiPayload(_ string, b []byte) string {
	n := len(b)
	if n > uiMaxPayload {
		cut := uiMaxPayload // b[cut] is the first byte left out
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("(%d bytes, not UTF-8 text)", n)
	}
	if n > len(b) {
		return fmt.Sprintf("%s… (%d bytes; the first %d shown)", b, n, len(b))
	}
	return string(b)
}

var (
	_ asynqmon.PayloadFormatter = asynqmon.PayloadFormatterFunc(uiPayload)
	_ asynqmon.ResultFormatter  = asynqmon.ResultFormatterFunc(uiPayload)
)
