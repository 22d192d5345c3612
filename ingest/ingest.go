// Package ingest is hookworker's HTTP ingest API, for producers in any
// language: POST /v1/resource-changes takes one payload, POST
// /v1/resource-changes/batch up to MaxBatch, both behind bearer tokens. It
// validates with the producer package (the rules the worker applies) and
// enqueues with asynq, so what it accepts is what the worker delivers.
package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/producer"
)

// MaxBatch is the most payloads one batch request may carry.
const MaxBatch = 1000

// MaxBatchBytes bounds a batch request's body: larger bodies are refused
// with 413 before they are read whole.
const MaxBatchBytes = 32 << 20

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// batchWorkers is how many enqueues of one batch are in flight at once.
const batchWorkers = 128

// retryAfter is the Retry-After of a 503 (Redis unreachable).
const retryAfter = "5"

// enqueueTimeout bounds the Redis work of one request.
const enqueueTimeout = 10 * time.Second

// Config holds the ingest handler's dependencies and settings.
type Config struct {
	// Redis is the worker's Redis: tasks and idempotency keys go there.
	Redis redis.UniversalClient
	// Tokens are the accepted bearer tokens (INGEST_TOKENS); none means
	// every request is refused.
	Tokens []string
	// MaxPayloadBytes is MAX_PAYLOAD_BYTES: the largest single payload.
	MaxPayloadBytes int
	// MaxRetry is the tasks' asynq MaxRetry: WEBHOOK_MAX_RETRIES, so that
	// the queue UI shows the limit the worker applies. Zero means
	// producer.TaskMaxRetry.
	MaxRetry int
	// Registerer receives the handler's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Handler serves the ingest API.
type Handler struct {
	cfg    Config
	client *asynq.Client
	// batchClient enqueues a batch's tasks through go-redis's auto-pipeliner
	// when Redis is a *redis.Client (concurrent enqueues leave in one write
	// and one round trip, as in `enqueue bulk`); else it is client. The
	// auto-pipeliner is the Redis client's own, cached and shared with the
	// worker's asynq servers in the same process: the Redis client closes
	// it, never the handler.
	batchClient *asynq.Client
	mux         *http.ServeMux
	requests    *prometheus.CounterVec
	latency     prometheus.Histogram
}

// New returns the ingest handler. Close it to release its asynq client (not
// the Redis client, which the caller owns).
func New(cfg Config) (*Handler, error) {
	if cfg.Redis == nil {
		return nil, errors.New("ingest: Config.Redis is required")
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = producer.DefaultMaxPayloadBytes
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = producer.TaskMaxRetry
	}
	h := &Handler{
		cfg:    cfg,
		client: asynq.NewClientFromRedisClient(cfg.Redis),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookworker_ingest_requests_total",
			Help: "Ingest API requests by endpoint (single, batch) and result (accepted, duplicate, unauthorized, too_large_or_unreadable, bad_request, unavailable).",
		}, []string{"endpoint", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookworker_ingest_enqueue_seconds",
			Help:    "Time the ingest API spent enqueuing one request's payloads into Redis.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	h.batchClient = h.client
	if c, ok := cfg.Redis.(*redis.Client); ok {
		ap, err := c.AutoPipeline()
		if err != nil {
			return nil, fmt.Errorf("ingest: redis auto-pipeline: %w", err)
		}
		h.batchClient = asynq.NewClientFromRedisClient(ap)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.requests, h.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: register metrics: %w", err)
			}
		}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /v1/resource-changes", h.single)
	h.mux.HandleFunc("POST /v1/resource-changes/batch", h.batch)
	return h, nil
}

// Close releases the handler. It holds nothing of its own: its asynq
// clients are made on the caller's Redis client (asynq does not close a
// shared connection), and the auto-pipeliner is that client's, which a
// worker in the same process still uses to acknowledge its deliveries
// while it drains. The caller closes the Redis client, and the
// auto-pipeliner with it.
func (h *Handler) Close() error { return nil }

// ServeHTTP checks the bearer token, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r.Header.Get("Authorization")) {
		h.requests.WithLabelValues(endpoint(r), "unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookworker ingest"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <token from INGEST_TOKENS>)")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized compares the bearer token with every configured token in
// constant time.
func (h *Handler) authorized(header string) bool {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return false
	}
	match := 0
	for _, t := range h.cfg.Tokens {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(t))
	}
	return match == 1
}

func endpoint(r *http.Request) string {
	if strings.HasSuffix(r.URL.Path, "/batch") {
		return "batch"
	}
	return "single"
}

// readBody reads at most limit bytes of the body; a larger body (by its
// Content-Length or as it is read) is refused with 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, bool) {
	if r.ContentLength > int64(limit) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, limit))
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over the limit of %d bytes", limit))
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "could not read the body")
		return nil, false
	}
	return b, true
}

// single enqueues one payload: 202 {"id"}; with Idempotency-Key, the same
// key within IdempotencyTTL answers the first id and enqueues nothing.
func (h *Handler) single(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, h.cfg.MaxPayloadBytes)
	if !ok {
		h.requests.WithLabelValues("single", "too_large_or_unreadable").Inc()
		return
	}
	if _, err := producer.Decode(b, h.cfg.MaxPayloadBytes); err != nil {
		h.requests.WithLabelValues("single", "bad_request").Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), enqueueTimeout)
	defer cancel()
	start := time.Now()
	id := uuid.NewString()
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		rk := idempotencyKey(key)
		set, err := h.cfg.Redis.SetNX(ctx, rk, id, IdempotencyTTL).Result()
		if err != nil {
			h.unavailable(w, "single", err)
			return
		}
		if !set {
			first, err := h.cfg.Redis.Get(ctx, rk).Result()
			if err != nil {
				h.unavailable(w, "single", err)
				return
			}
			h.requests.WithLabelValues("single", "duplicate").Inc()
			writeJSON(w, http.StatusAccepted, map[string]string{"id": first})
			return
		}
		defer func() {
			if id == "" { // the enqueue failed: let a retry with the same key try again
				h.cfg.Redis.Del(context.WithoutCancel(ctx), rk)
			}
		}()
	}
	task := asynq.NewTask(producer.TypeResourceChange, b, producer.TaskOptions(asynq.MaxRetry(h.cfg.MaxRetry), asynq.TaskID(id))...)
	if _, err := h.client.EnqueueContext(ctx, task); err != nil {
		id = ""
		h.unavailable(w, "single", err)
		return
	}
	h.latency.Observe(time.Since(start).Seconds())
	h.requests.WithLabelValues("single", "accepted").Inc()
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
}

// idempotencyKey is the Redis key remembering an Idempotency-Key (hashed,
// so any header value makes a short, safe key).
func idempotencyKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "hookworker:ingest:idempotency:" + hex.EncodeToString(sum[:])
}

// itemResult is one item of a batch answer: its id or its error.
type itemResult struct {
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
}

// batch enqueues up to MaxBatch payloads given as a JSON array: 200 with one
// result per item, in order; valid items are enqueued even when others are
// bad. 503 only when Redis took none of them.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, MaxBatchBytes)
	if !ok {
		h.requests.WithLabelValues("batch", "too_large_or_unreadable").Inc()
		return
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		h.requests.WithLabelValues("batch", "bad_request").Inc()
		writeError(w, http.StatusBadRequest, "the body must be a JSON array of payloads: "+clip(err.Error()))
		return
	}
	if len(items) > MaxBatch {
		h.requests.WithLabelValues("batch", "bad_request").Inc()
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d payloads is over the limit of %d per batch", len(items), MaxBatch))
		return
	}
	results := make([]itemResult, len(items))
	var tasks []*asynq.Task
	var where []int
	for i, raw := range items {
		if _, err := producer.Decode(raw, h.cfg.MaxPayloadBytes); err != nil {
			results[i].Error = err.Error()
			continue
		}
		tasks = append(tasks, asynq.NewTask(producer.TypeResourceChange, raw, producer.TaskOptions(asynq.MaxRetry(h.cfg.MaxRetry))...))
		where = append(where, i)
	}
	ctx, cancel := context.WithTimeout(r.Context(), enqueueTimeout)
	defer cancel()
	start := time.Now()
	var enqueued, failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(batchWorkers, len(tasks)) {
		wg.Go(func() {
			for j := range next {
				info, err := h.batchClient.EnqueueContext(ctx, tasks[j])
				if err != nil {
					results[where[j]].Error = "not enqueued, Redis failed: " + clip(err.Error())
					failed.Add(1)
					continue
				}
				results[where[j]].ID = info.ID
				enqueued.Add(1)
			}
		})
	}
	for j := range tasks {
		next <- j
	}
	close(next)
	wg.Wait()
	if failed.Load() > 0 && enqueued.Load() == 0 {
		h.unavailable(w, "batch", errors.New("no payload could be enqueued"))
		return
	}
	h.latency.Observe(time.Since(start).Seconds())
	h.requests.WithLabelValues("batch", "accepted").Inc()
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// unavailable answers 503 with Retry-After: Redis did not take the task.
func (h *Handler) unavailable(w http.ResponseWriter, ep string, err error) {
	h.requests.WithLabelValues(ep, "unavailable").Inc()
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, http.StatusServiceUnavailable, "could not enqueue, Redis is unavailable: "+clip(err.Error()))
}

// clip bounds a quoted error message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away
}
