package ingest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookworker/hookworker/ingest"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/producer"
)

const token = "s3cret-token"

type bundle struct {
	srv  *httptest.Server
	rdb  *redis.Client
	insp *asynq.Inspector
}

func setup(t *testing.T, rdb *redis.Client, direct *redis.Client) bundle {
	t.Helper()
	h, err := ingest.New(ingest.Config{Redis: rdb, Tokens: []string{"other", token}, MaxPayloadBytes: 4096,
		Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return bundle{srv: srv, rdb: direct, insp: asynq.NewInspectorFromRedisClient(direct)}
}

func (b bundle) post(t *testing.T, path, body string, header ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(raw, &v), "%s", raw)
	return resp.StatusCode, resp.Header, v
}

func pending(t *testing.T, b bundle) []*asynq.TaskInfo {
	t.Helper()
	infos, err := b.insp.ListPendingTasks(producer.QueueAppPlatform, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	require.NoError(t, err)
	return infos
}

func TestSingle(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	b := setup(t, r.Client, r.Client)

	payload := `{"installation_id":7,"event":"issue.created","data":{"issue":{"id":"1"}},"actor":{"type":"user","id":"2","name":"Ann"}}`
	code, _, v := b.post(t, "/v1/resource-changes", payload)
	require.Equal(t, http.StatusAccepted, code, v)
	id, _ := v["id"].(string)
	require.NotEmpty(t, id)
	info, err := b.insp.GetTaskInfo(producer.QueueAppPlatform, id)
	require.NoError(t, err)
	require.Equal(t, producer.TypeResourceChange, info.Type)
	require.Equal(t, payload, string(info.Payload))
	require.Equal(t, producer.TaskTimeout, info.Timeout)
	require.Equal(t, producer.TaskMaxRetry, info.MaxRetry)

	for _, tt := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"duplicate key", `{"installation_id":7,"event":"issue.created","installation_id":8}`, 400, `payload: duplicate key "installation_id"`},
		{"bad JSON", `{"installation_id":7,`, 400, "payload: not valid JSON"},
		{"unknown event", `{"installation_id":7,"event":"issue.exploded"}`, 400, `payload: unknown event "issue.exploded"`},
		{"no installation", `{"event":"issue.created"}`, 400, "payload: installation_id is missing"},
		{"too large", `{"installation_id":7,"event":"issue.created","data":{"x":"` + strings.Repeat("a", 5000) + `"}}`, 413, "over the limit of 4096"},
	} {
		code, _, v := b.post(t, "/v1/resource-changes", tt.body)
		require.Equal(t, tt.code, code, tt.name)
		require.Contains(t, v["error"], tt.want, tt.name)
	}
	require.Len(t, pending(t, b), 1, "nothing bad was enqueued")
}

// A body without Content-Length is cut at the limit as it is read.
func TestSingleChunkedTooLarge(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	b := setup(t, r.Client, r.Client)
	body := io.MultiReader(strings.NewReader(`{"installation_id":7,"event":"issue.created","data":{"x":"`), strings.NewReader(strings.Repeat("a", 1<<20)))
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/resource-changes", body)
	require.NoError(t, err)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	msg, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(msg), "body is over the limit of 4096 bytes")
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	b := setup(t, r.Client, r.Client)
	for _, auth := range []string{"", "Bearer ", "Bearer wrong", "Basic " + token, "bearer " + token, "Bearer " + token + "x"} {
		code, h, v := b.post(t, "/v1/resource-changes", `{"installation_id":7,"event":"issue.created"}`, "Authorization", auth)
		require.Equal(t, http.StatusUnauthorized, code, "%q", auth)
		require.Contains(t, v["error"], "bearer token", "%q", auth)
		require.NotEmpty(t, h.Get("WWW-Authenticate"))
	}
	require.Empty(t, pending(t, b))
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	b := setup(t, r.Client, r.Client)
	payload := `{"installation_id":7,"event":"issue.created"}`
	_, _, first := b.post(t, "/v1/resource-changes", payload, "Idempotency-Key", "order-42")
	code, _, again := b.post(t, "/v1/resource-changes", payload, "Idempotency-Key", "order-42")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, first["id"], again["id"])
	_, _, other := b.post(t, "/v1/resource-changes", payload, "Idempotency-Key", "order-43")
	require.NotEqual(t, first["id"], other["id"])
	require.Len(t, pending(t, b), 2, "the repeated key enqueued nothing")
	ttl, err := r.Client.TTL(t.Context(), "hookworker:ingest:idempotency:"+sha("order-42")).Result()
	require.NoError(t, err)
	require.InDelta(t, ingest.IdempotencyTTL.Seconds(), ttl.Seconds(), 60)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	b := setup(t, r.Client, r.Client)
	var items []string
	for i := range 50 {
		switch i % 10 {
		case 3:
			items = append(items, `{"installation_id":1,"event":"issue.nope"}`)
		case 6:
			items = append(items, `[1]`)
		default:
			items = append(items, fmt.Sprintf(`{"installation_id":%d,"event":"issue.created"}`, i+1))
		}
	}
	code, _, v := b.post(t, "/v1/resource-changes/batch", "["+strings.Join(items, ",")+"]")
	require.Equal(t, http.StatusOK, code, v)
	results := v["results"].([]any)
	require.Len(t, results, 50)
	for i, res := range results {
		m := res.(map[string]any)
		switch i % 10 {
		case 3:
			require.Contains(t, m["error"], `unknown event "issue.nope"`, i)
		case 6:
			require.Contains(t, m["error"], "not a JSON object", i)
		default:
			info, err := b.insp.GetTaskInfo(producer.QueueAppPlatform, m["id"].(string))
			require.NoError(t, err, i)
			require.Equal(t, fmt.Sprintf(`{"installation_id":%d,"event":"issue.created"}`, i+1), string(info.Payload), "result %d answers item %d", i, i)
		}
	}
	require.Len(t, pending(t, b), 40)

	for _, tt := range []struct{ body, want string }{
		{`{"installation_id":1}`, "the body must be a JSON array of payloads"},
		{"[" + strings.Repeat(`{},`, ingest.MaxBatch) + "{}]", "1001 payloads is over the limit of 1000 per batch"},
	} {
		code, _, v := b.post(t, "/v1/resource-changes/batch", tt.body)
		require.Equal(t, http.StatusBadRequest, code)
		require.Contains(t, v["error"], tt.want)
	}
	code, _, v = b.post(t, "/v1/resource-changes/batch", "["+strings.Repeat(" ", ingest.MaxBatchBytes)+"]")
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, v["error"], "over the limit of 33554432")
}

// With Redis unreachable the API answers 503 with Retry-After, and it
// recovers by itself once Redis is back.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	p := newProxy(t, r.Client.Options().Addr)
	opt := *r.Client.Options()
	opt.Addr, opt.MaxRetries, opt.DialTimeout = p.addr(), 0, time.Second
	viaProxy := redis.NewClient(&opt)
	t.Cleanup(func() { viaProxy.Close() })
	b := setup(t, viaProxy, r.Client)
	payload := `{"installation_id":7,"event":"issue.created"}`

	p.setDown(true)
	for _, path := range []string{"/v1/resource-changes", "/v1/resource-changes/batch"} {
		body := payload
		if strings.HasSuffix(path, "batch") {
			body = "[" + payload + "]"
		}
		code, h, v := b.post(t, path, body, "Idempotency-Key", "k1")
		require.Equal(t, http.StatusServiceUnavailable, code, path)
		require.Equal(t, "5", h.Get("Retry-After"))
		require.Contains(t, v["error"], "Redis is unavailable")
	}
	p.setDown(false)
	code, _, v := b.post(t, "/v1/resource-changes", payload, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusAccepted, code, v)
	require.Len(t, pending(t, b), 1)
}

// proxy forwards TCP to a Redis and can refuse and cut every connection.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func sha(s string) string {
	var buf bytes.Buffer
	sum := sha256Sum([]byte(s))
	fmt.Fprintf(&buf, "%x", sum)
	return buf.String()
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// The ingest API and the worker share one Redis client in the worker
// process, and with it go-redis's cached auto-pipeliner, through which the
// worker acknowledges its deliveries. The ingest API is shut down first, so
// closing it must leave that auto-pipeliner working.
func TestCloseLeavesTheSharedAutoPipelinerOpen(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	ap, err := r.Client.AutoPipeline()
	require.NoError(t, err)
	h, err := ingest.New(ingest.Config{Redis: r.Client, Tokens: []string{token}, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.False(t, ap.IsClosed(), "the ingest handler closed the Redis client's auto-pipeliner")
	same, err := r.Client.AutoPipeline()
	require.NoError(t, err)
	require.Same(t, ap, same)
	require.NoError(t, asynq.NewClientFromRedisClient(ap).Ping())
}

// The tasks carry the worker's WEBHOOK_MAX_RETRIES as their MaxRetry, from
// both endpoints, so the queue UI shows the limit the worker applies.
func TestMaxRetry(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	h, err := ingest.New(ingest.Config{Redis: r.Client, Tokens: []string{token}, MaxRetry: 30, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := bundle{srv: srv, rdb: r.Client, insp: asynq.NewInspectorFromRedisClient(r.Client)}
	code, _, v := b.post(t, "/v1/resource-changes", `{"installation_id":1,"event":"issue.created"}`)
	require.Equal(t, http.StatusAccepted, code, v)
	code, _, v = b.post(t, "/v1/resource-changes/batch", `[{"installation_id":2,"event":"issue.created"}]`)
	require.Equal(t, http.StatusOK, code, v)
	infos := pending(t, b)
	require.Len(t, infos, 2)
	for _, info := range infos {
		require.Equal(t, 30, info.MaxRetry, "task %s", info.Payload)
	}
}
