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
		400: true, 404: true, 429: true, 499: true, 500: true, 503: true, 504: true, 599: true,
		600: false, 601: false, 999: false, 1: false, 99: false} {
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
	require.Nil(t, e.ErrorID)
	require.Nil(t, e.ProjectID)

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
	const hexID, uuidID = "0123456789abcdef0123456789ABCDEF", "01234567-89ab-cdef-0123-456789abcdef"
	tests := []struct {
		name   string
		header http.Header
		// stored is false when neither field must appear.
		stored      bool
		errID, proj string
	}{
		{"both", http.Header{"Sentry-Hook-Error": {hexID}, "Sentry-Hook-Project": {"12"}}, true, hexID, "12"},
		{"uuid with dashes", http.Header{"Sentry-Hook-Error": {uuidID}, "Sentry-Hook-Project": {"9223372036854775807"}}, true, uuidID, "9223372036854775807"},
		{"both empty", http.Header{"Sentry-Hook-Error": {""}, "Sentry-Hook-Project": {""}}, true, "", ""},
		{"empty error", http.Header{"Sentry-Hook-Error": {""}, "Sentry-Hook-Project": {"12"}}, true, "", "12"},
		{"error only", http.Header{"Sentry-Hook-Error": {hexID}}, false, "", ""},
		{"project only", http.Header{"Sentry-Hook-Project": {"12"}}, false, "", ""},
		{"neither", nil, false, "", ""},
		// Not plausible ids: the pair is dropped.
		{"short error id", http.Header{"Sentry-Hook-Error": {"abc"}, "Sentry-Hook-Project": {"12"}}, false, "", ""},
		{"64 KB error id", http.Header{"Sentry-Hook-Error": {strings.Repeat("a", 64<<10)}, "Sentry-Hook-Project": {"12"}}, false, "", ""},
		{"non-hex error id", http.Header{"Sentry-Hook-Error": {strings.Repeat("g", 32)}, "Sentry-Hook-Project": {"12"}}, false, "", ""},
		{"misplaced dashes", http.Header{"Sentry-Hook-Error": {"0123456-789ab-cdef-0123-456789abcdef"}, "Sentry-Hook-Project": {"12"}}, false, "", ""},
		{"project not a number", http.Header{"Sentry-Hook-Error": {hexID}, "Sentry-Hook-Project": {"my-project"}}, false, "", ""},
		{"negative project", http.Header{"Sentry-Hook-Error": {hexID}, "Sentry-Hook-Project": {"-1"}}, false, "", ""},
		{"project too long", http.Header{"Sentry-Hook-Error": {hexID}, "Sentry-Hook-Project": {strings.Repeat("9", 20)}}, false, "", ""},
		{"html in project", http.Header{"Sentry-Hook-Error": {hexID}, "Sentry-Hook-Project": {"<script>"}}, false, "", ""},
	}
	for _, tt := range tests {
		for _, code := range []int{200, 500} {
			e := NewEntry(Attempt{Time: time.Now(), ResponseCode: code, ResponseHeader: tt.header})
			b, err := Encode(e)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			if !tt.stored {
				require.Nil(t, e.ErrorID, tt.name)
				require.Nil(t, e.ProjectID, tt.name)
				require.NotContains(t, m, "error_id", tt.name)
				require.NotContains(t, m, "project_id", tt.name)
				continue
			}
			require.Equal(t, tt.errID, m["error_id"], tt.name)
			require.Equal(t, tt.proj, m["project_id"], "project_id is a string")
		}
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	cut := func(s string) string { return Cut(s, MaxFieldChars, MaxBodyBytes) }
	require.Equal(t, "", cut(""))
	require.Equal(t, "abc", cut("abc"))
	exact := strings.Repeat("x", MaxFieldChars)
	require.Equal(t, exact, cut(exact))
	require.Equal(t, exact, cut(exact+"y"))

	// Characters, not bytes: 2- and 3-byte runes keep 1024 characters.
	for _, r := range []string{"é", "✓"} {
		long := strings.Repeat(r, 3000)
		got := cut(long)
		require.Equal(t, MaxFieldChars, utf8.RuneCountInString(got), r)
		require.Equal(t, strings.Repeat(r, MaxFieldChars), got)
		short := strings.Repeat(r, MaxFieldChars)
		require.Equal(t, short, cut(short), r)
	}
	mixed := strings.Repeat("a", 1000) + strings.Repeat("é", 100)
	require.Equal(t, strings.Repeat("a", 1000)+strings.Repeat("é", 24), cut(mixed))

	// The byte cap: 4-byte runes, escaped characters and invalid bytes stop
	// earlier, never inside a UTF-8 sequence, and within MaxBodyBytes encoded.
	for _, s := range []string{
		strings.Repeat("😀", 3000), strings.Repeat("\x00", 3000), strings.Repeat("\"", 3000),
		strings.Repeat("\xff", 3000), strings.Repeat("\u2028", 3000), strings.Repeat("a\x01é😀\xfe\"", 1000),
	} {
		got := cut(s)
		require.True(t, strings.HasPrefix(s, got))
		require.LessOrEqual(t, utf8.RuneCountInString(got), MaxFieldChars)
		enc, err := json.Marshal(got)
		require.NoError(t, err)
		require.LessOrEqual(t, len(enc), MaxBodyBytes+2, "%q…", got[:8])
		if utf8.RuneCountInString(got) < MaxFieldChars {
			require.Greater(t, len(enc), MaxBodyBytes-6, "cut no shorter than needed")
		}
		if utf8.ValidString(s) {
			require.True(t, utf8.ValidString(got))
		}
	}
}

// EncodedLen must agree with encoding/json (HTML escaping off) byte for
// byte, or the caps would not hold.
func FuzzEncodedLen(f *testing.F) {
	for _, s := range []string{"", "abc", "\x00\x1f\x7f", "\"\\/<>&", "\b\f\n\r\t", "é✓😀", "\xff\xfe", "\u2028\u2029", "\xed\xa0\x80", "\xf4\x90\x80\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := encode(Entry{WebhookURL: s})
		require.NoError(t, err)
		base, err := encode(Entry{})
		require.NoError(t, err)
		require.Equal(t, len(b)-len(base)+2, EncodedLen(s), "%q", s)
		got := Cut(s, 100, 200)
		require.True(t, strings.HasPrefix(s, got))
		require.LessOrEqual(t, EncodedLen(got), 202)
	})
}

// TestEntryCaps builds entries from hostile attempts: a 1 MB URL, 64 KB
// Sentry-Hook-Error and -Project values, long header values, bodies of
// characters that JSON escapes. None exceeds MaxEntryBytes, and each field
// stays within its own cap.
func TestEntryCaps(t *testing.T) {
	t.Parallel()
	// The caps add up below the bound, with room for the fixed fields.
	require.Less(t, 300+MaxURLBytes+2+MaxHeadersBytes+2*(MaxBodyBytes+2), MaxEntryBytes)
	huge := func(unit string) string { return strings.Repeat(unit, (1<<20)/len(unit)) }
	hdr := sentHeader()
	hdr.Set("Hookworker-Delivery-ID", huge("d"))
	hdr.Set("Webhook-Id", huge("\x01"))
	for i := range 40 {
		hdr.Set("X-Extra-"+strconv.Itoa(i), strings.Repeat("\"", 500))
	}
	for _, unit := range []string{"a", "\x00", "\"", "😀", "\xff", "\u2028", "é<&>"} {
		a := Attempt{Time: time.Now(), ResponseCode: 500, OrganizationID: -1 << 63,
			WebhookURL:     "https://example.com/?q=" + huge(unit),
			RequestHeader:  hdr,
			RequestBody:    []byte(huge(unit)),
			ResponseBody:   []byte(huge(unit)),
			ResponseHeader: http.Header{"Sentry-Hook-Error": {huge(unit)}, "Sentry-Hook-Project": {huge("1")}},
		}
		e := NewEntry(a)
		b, err := Encode(e)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), MaxEntryBytes, "unit %q", unit)
		require.Nil(t, e.ErrorID)
		require.LessOrEqual(t, EncodedLen(e.WebhookURL), MaxURLBytes+2)
		require.True(t, strings.HasPrefix(a.WebhookURL, e.WebhookURL))
		require.LessOrEqual(t, EncodedLen(*e.RequestBody), MaxBodyBytes+2)
		require.LessOrEqual(t, EncodedLen(*e.ResponseBody), MaxBodyBytes+2)
		hb, err := json.Marshal(e.RequestHeaders)
		require.NoError(t, err)
		require.LessOrEqual(t, len(hb), MaxHeadersBytes)
		for k, v := range e.RequestHeaders {
			require.LessOrEqual(t, EncodedLen(v), MaxHeaderValueBytes+2, k)
		}
		// Our own short headers are all kept: they sort before the extras.
		require.Equal(t, "dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355", e.RequestHeaders["Sentry-Hook-Signature"])
	}

	// An entry built by hand, past every cap, is still stored within the bound.
	big := strings.Repeat("\x00", 1<<20)
	b, err := Encode(Entry{WebhookURL: big, ErrorID: &big, ProjectID: &big, RequestBody: &big, ResponseBody: &big,
		RequestHeaders: map[string]string{"A": big}, Date: big})
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), MaxEntryBytes)
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
