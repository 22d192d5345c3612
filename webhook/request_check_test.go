package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A request that cannot be built is refused by Send before anything is
// dialled, with a *RequestError rather than a connection error.
func TestSendRefusesUnbuildableRequest(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s := loopbackSender(t, time.Second)
	for _, id := range []string{"abc\r\nX-Injected: 1", "a\nb", "a\x00b", "a\x7fb"} {
		resp, err := s.Send(context.Background(), Request{URL: srv.URL, Resource: "issue", Body: []byte(`{}`), Secret: "s", DeliveryID: id})
		var re *RequestError
		require.True(t, errors.As(err, &re), "%q: %v", id, err)
		require.Contains(t, err.Error(), "Hookworker-Delivery-ID")
		require.Zero(t, resp.StatusCode)
		var te *TransportError
		require.False(t, errors.As(err, &te), "not a connection error")
	}
	require.Empty(t, srv.requests(), "nothing reached the receiver")

	// Tabs and UTF-8 are valid header bytes: delivered.
	_, err := s.Send(context.Background(), Request{URL: srv.URL, Resource: "issue", Body: []byte(`{}`), Secret: "s", DeliveryID: "a\tb-é"})
	require.NoError(t, err)
	require.Len(t, srv.requests(), 1)
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	ok := http.Header{"Content-Type": {"application/json"}, "Hookworker-Delivery-ID": {"3f1c-é\t"}}
	for host, valid := range map[string]bool{
		"example.com": true, "example.com:8080": true, "[::1]:80": true, "[fe80::1%25eth0]": true, "bücher.example": true,
		"a{b}.example": false, "a b": false, "a\"b": false, "a<b": false, "a\\b": false,
	} {
		err := checkRequest(&url.URL{Host: host}, ok)
		require.Equal(t, valid, err == nil, "%q: %v", host, err)
	}
	for name, hdr := range map[string]http.Header{
		"CR in value":   {"X": {"a\rb"}},
		"LF in value":   {"X": {"a\nb"}},
		"NUL in value":  {"X": {"\x00"}},
		"space in name": {"X Y": {"v"}},
		"colon in name": {"X:Y": {"v"}},
		"empty name":    {"": {"v"}},
	} {
		require.Error(t, checkRequest(&url.URL{Host: "example.com"}, hdr), name)
	}
}
