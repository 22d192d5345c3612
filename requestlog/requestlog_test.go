package requestlog

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/internal/testenv"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	require.Equal(t, "sentry-app-webhook-request:{42}:issue.created", RequestKey(42, "issue.created"))
	require.Equal(t, "sentry-app-webhook-error:{42}:comment.deleted", ErrorKey(42, "comment.deleted"))
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{0: true, 100: false, 200: false, 204: false, 302: false, 399: false,
		400: true, 404: true, 429: true, 499: true, 500: true, 503: true, 504: true} {
		require.Equal(t, want, IsFailure(code), code)
	}
}

// sentHeader is a request header as the webhook sender builds it.
func sentHeader() http.Header {
	return http.Header{
		"Content-Type":          {"application/json"},
		"Request-ID":            {"0123456789abcdef0123456789abcdef"},
		"Sentry-Hook-Resource":  {"issue"},
		"Sentry-Hook-Timestamp": {"1795799109"},
		"Sentry-Hook-Signature": {"dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355"},
		"User-Agent":            {"hookworker/0.1.0"},
	}
}

func TestNewEntrySuccess(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 17, 5, 9, 42113000, time.UTC)
	e := NewEntry(Attempt{Time: at, ResponseCode: 200, WebhookURL: "https://example.com/hook", OrganizationID: 7,
		Internal: true, RequestHeader: sentHeader(), RequestBody: []byte(`{"a":1}`), ResponseBody: []byte("ok")})
	b, err := json.Marshal(e)
	require.NoError(t, err)
	// Successes carry no headers or bodies; internal apps no organization_id.
	require.JSONEq(t, `{"date":"2026-11-27 17:05:09.042113+00:00","response_code":200,"webhook_url":"https://example.com/hook"}`, string(b))

	e = NewEntry(Attempt{Time: at, ResponseCode: 302, WebhookURL: "https://example.com/hook", OrganizationID: 7})
	b, err = json.Marshal(e)
	require.NoError(t, err)
	require.JSONEq(t, `{"date":"2026-11-27 17:05:09.042113+00:00","response_code":302,"webhook_url":"https://example.com/hook","organization_id":7}`, string(b))
}

func TestNewEntryDate(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	for in, want := range map[time.Time]string{
		time.Date(2026, 11, 27, 17, 5, 9, 0, time.UTC):          "2026-11-27 17:05:09.000000+00:00",
		time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC):          "2026-01-02 03:04:05.000006+00:00",
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC):     "2026-01-02 03:04:05.999999+00:00",
		time.Date(2026, 1, 1, 0, 30, 0, 123456000, paris):       "2025-12-31 23:30:00.123456+00:00",
		time.Date(2026, 11, 27, 17, 5, 9, 42113000, time.Local): time.Date(2026, 11, 27, 17, 5, 9, 42113000, time.Local).UTC().Format("2006-01-02 15:04:05.000000") + "+00:00",
	} {
		got := NewEntry(Attempt{Time: in, ResponseCode: 200}).Date
		require.Equal(t, want, got)
		require.Regexp(t, `^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00:00$`, got)
	}
}

func TestNewEntryFailure(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 17, 5, 9, 42113000, time.UTC)
	respBody := strings.Repeat("r", 5000)
	reqBody := strings.Repeat("q", 1500)
	e := NewEntry(Attempt{Time: at, ResponseCode: 500, WebhookURL: "https://example.com/hook", OrganizationID: 7,
		RequestHeader: sentHeader(), RequestBody: []byte(reqBody), ResponseBody: []byte(respBody),
		ResponseHeader: http.Header{"Content-Type": {"text/plain"}}})
	require.Equal(t, 500, e.ResponseCode)
	require.NotNil(t, e.OrganizationID)
	require.Equal(t, int64(7), *e.OrganizationID)
	require.Equal(t, map[string]string{
		"Content-Type":          "application/json",
		"Request-ID":            "0123456789abcdef0123456789abcdef",
		"Sentry-Hook-Resource":  "issue",
		"Sentry-Hook-Timestamp": "1795799109",
		"Sentry-Hook-Signature": "dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355",
		"User-Agent":            "hookworker/0.1.0",
	}, e.RequestHeaders)
	require.NotNil(t, e.RequestBody)
	require.NotNil(t, e.ResponseBody)
	require.Equal(t, reqBody[:MaxFieldChars], *e.RequestBody)
	require.Equal(t, respBody[:MaxFieldChars], *e.ResponseBody)
	require.Empty(t, e.ErrorID)
	require.Empty(t, e.ProjectID)

	b, err := json.Marshal(e)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.ElementsMatch(t, []string{"date", "response_code", "webhook_url", "organization_id", "request_headers",
		"request_body", "response_body"}, keys(m))
}

// A timeout or connection error (code 0) is a failure with an empty response.
func TestNewEntryNoResponse(t *testing.T) {
	t.Parallel()
	e := NewEntry(Attempt{Time: time.Now(), ResponseCode: 0, WebhookURL: "http://127.0.0.1:1/", Internal: true,
		RequestHeader: sentHeader(), RequestBody: []byte(`{}`)})
	b, err := json.Marshal(e)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, float64(0), m["response_code"])
	require.Equal(t, "", m["response_body"])
	require.Equal(t, "{}", m["request_body"])
	require.NotContains(t, m, "organization_id")
	require.Contains(t, m["request_headers"], "Sentry-Hook-Signature")
}

func TestNewEntryErrorAndProject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		header      http.Header
		errID, proj string
	}{
		{"both", http.Header{"Sentry-Hook-Error": {"abc"}, "Sentry-Hook-Project": {"12"}}, "abc", "12"},
		{"error only", http.Header{"Sentry-Hook-Error": {"abc"}}, "", ""},
		{"project only", http.Header{"Sentry-Hook-Project": {"12"}}, "", ""},
		{"neither", nil, "", ""},
	}
	for _, tt := range tests {
		for _, code := range []int{200, 500} {
			e := NewEntry(Attempt{Time: time.Now(), ResponseCode: code, ResponseHeader: tt.header})
			require.Equal(t, tt.errID, e.ErrorID, tt.name)
			require.Equal(t, tt.proj, e.ProjectID, tt.name)
			b, err := json.Marshal(e)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			if tt.errID == "" {
				require.NotContains(t, m, "error_id", tt.name)
				require.NotContains(t, m, "project_id", tt.name)
			} else {
				require.Equal(t, tt.errID, m["error_id"], tt.name)
				require.Equal(t, tt.proj, m["project_id"], "project_id is a string")
			}
		}
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", Cut(""))
	require.Equal(t, "abc", Cut("abc"))
	exact := strings.Repeat("x", MaxFieldChars)
	require.Equal(t, exact, Cut(exact))
	require.Equal(t, exact, Cut(exact+"y"))

	// Characters, not bytes: 2-, 3- and 4-byte runes.
	for _, r := range []string{"é", "✓", "😀"} {
		long := strings.Repeat(r, 3000)
		got := Cut(long)
		require.Equal(t, MaxFieldChars, utf8.RuneCountInString(got), r)
		require.True(t, utf8.ValidString(got), r)
		require.Equal(t, strings.Repeat(r, MaxFieldChars), got)
		// Short in characters, long in bytes: kept whole.
		short := strings.Repeat(r, MaxFieldChars)
		require.Equal(t, short, Cut(short), r)
	}
	mixed := strings.Repeat("a", 1000) + strings.Repeat("é", 100)
	require.Equal(t, strings.Repeat("a", 1000)+strings.Repeat("é", 24), Cut(mixed))
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestWriter(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t).Client
	ctx := context.Background()
	const appID, ev = 9, "issue.created"
	w := NewWriter(rdb)
	t.Cleanup(w.Close)

	// 104 attempts, successes and failures, each one Write like the deliverer's.
	for i := range 104 {
		code := 200
		if i%2 == 1 || i >= 100 {
			code = 500
		}
		if i == 103 {
			code = 0
		}
		require.NoError(t, w.Write(ctx, appID, ev, Entry{Date: strconv.Itoa(i), ResponseCode: code}, nil))
	}

	reqs, err := rdb.LRange(ctx, RequestKey(appID, ev), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, reqs, MaxEntries)
	var first, last Entry
	require.NoError(t, json.Unmarshal([]byte(reqs[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(reqs[len(reqs)-1]), &last))
	require.Equal(t, "103", first.Date, "newest first")
	require.Equal(t, "4", last.Date, "oldest entries trimmed")

	errs, err := rdb.LRange(ctx, ErrorKey(appID, ev), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, errs, 54) // 50 odd i below 100, plus 100..103
	for _, s := range errs {
		var e Entry
		require.NoError(t, json.Unmarshal([]byte(s), &e))
		require.True(t, IsFailure(e.ResponseCode), s)
	}

	for _, key := range []string{RequestKey(appID, ev), ErrorKey(appID, ev)} {
		ttl, err := rdb.TTL(ctx, key).Result()
		require.NoError(t, err)
		require.InDelta(t, TTL.Seconds(), ttl.Seconds(), 5, key)
		require.Equal(t, 2592000.0, TTL.Seconds())
	}

	// A success never creates the error list.
	require.NoError(t, w.Write(ctx, appID, "comment.created", Entry{ResponseCode: 204},
		&Counter{Key: "counter", Field: "success_count", TTL: 8 * 24 * time.Hour}))
	n, err := rdb.Exists(ctx, ErrorKey(appID, "comment.created")).Result()
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = rdb.LLen(ctx, RequestKey(appID, "comment.created")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	// The counter travels in the same command.
	v, err := rdb.HGetAll(ctx, "counter").Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"success_count": "1"}, v)
	ttl, err := rdb.TTL(ctx, "counter").Result()
	require.NoError(t, err)
	require.InDelta(t, (8 * 24 * time.Hour).Seconds(), ttl.Seconds(), 5)
}

// TestWriterBatches writes from many goroutines at once (they share round
// trips) and after the server lost its scripts (SCRIPT FLUSH, as after a
// restart): every entry arrives exactly once.
func TestWriterBatches(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t).Client
	ctx := context.Background()
	w := NewWriter(rdb)
	t.Cleanup(w.Close)

	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			require.NoError(t, w.Write(ctx, 5, "issue.created", Entry{Date: strconv.Itoa(i), ResponseCode: 500}, nil))
		})
	}
	wg.Wait()
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	require.NoError(t, w.Write(ctx, 5, "issue.resolved", Entry{Date: "after-flush", ResponseCode: 200}, nil))

	reqs, err := rdb.LLen(ctx, RequestKey(5, "issue.created")).Result()
	require.NoError(t, err)
	require.EqualValues(t, MaxEntries, reqs, "trimmed to the newest 100")
	errs, err := rdb.LLen(ctx, ErrorKey(5, "issue.created")).Result()
	require.NoError(t, err)
	require.EqualValues(t, MaxEntries, errs)
	got, err := rdb.LRange(ctx, RequestKey(5, "issue.resolved"), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Contains(t, got[0], "after-flush")
}

// TestWriterCloseFlushes checks that Close returns only after queued writes
// are in Redis.
func TestWriterCloseFlushes(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t).Client
	ctx := context.Background()
	w := NewWriter(rdb)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			require.NoError(t, w.Write(ctx, 6, "comment.created", Entry{Date: strconv.Itoa(i), ResponseCode: 201}, nil))
		})
	}
	wg.Wait()
	w.Close()
	n, err := rdb.LLen(ctx, RequestKey(6, "comment.created")).Result()
	require.NoError(t, err)
	require.EqualValues(t, 50, n)
}
