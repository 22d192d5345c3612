package bench

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/bench/fixture"
)

func TestReceiverCountsAndMeasuresLatency(t *testing.T) {
	t.Parallel()
	r, err := StartReceiver()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })

	w := r.expect(2)
	stamp := time.Now().Add(-30 * time.Millisecond).UnixNano()
	for _, body := range [][]byte{fixture.IssueData(1, stamp), fixture.IssueData(2, 0)} {
		resp, err := http.Post(r.URL, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.NoError(t, w.wait(t.Context(), 5*time.Second, nil))
	lat := w.latencies()
	require.Len(t, lat, 1, "only the stamped body has a latency")
	require.GreaterOrEqual(t, lat[0], 30*time.Millisecond)
	require.Less(t, lat[0], 10*time.Second)
	require.Equal(t, int64(2), r.Total())

	// A new window starts from zero.
	w2 := r.expect(1)
	require.Equal(t, 0, w2.seen())
}

func TestDeadReceiverNeverAnswers(t *testing.T) {
	t.Parallel()
	d, err := StartDeadReceiver()
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })

	client := newPostClient(1, 200*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader([]byte(`{}`)))
	require.NoError(t, err)
	start := time.Now()
	resp, err := client.Do(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the dead receiver must not answer")
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "the request ends with the client's timeout")
	require.Equal(t, int64(1), d.Accepted())
}
