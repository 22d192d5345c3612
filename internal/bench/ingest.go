package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hookworker/hookworker/ingest"
)

// ingestClients is how many producers post batches at once in the ingest
// figure.
const ingestClients = 4

// ingestToken is the bench's ingest token.
const ingestToken = "bench-ingest-token-0123456789"

// ingestBatchRate is the batch-ingest figure: the lines `enqueue bulk` read
// (newline-delimited payloads), posted to the ingest API's batch endpoint,
// 1,000 a request from ingestClients producers at once, over loopback HTTP
// to an ingest handler in this process on the bench's Redis. It returns
// tasks/s and checks every payload was enqueued.
func ingestBatchRate(ctx context.Context, redisURL string, lines []byte) (float64, int, error) {
	rdb, err := newRedisClient(redisURL, func(u *redis.UniversalOptions) { u.PoolSize = 300 }) // RESP2, as the worker's
	if err != nil {
		return 0, 0, err
	}
	defer rdb.Close()
	h, err := ingest.New(ingest.Config{Redis: rdb, Tokens: []string{ingestToken}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	payloads := bytes.Split(bytes.TrimSpace(lines), []byte("\n"))
	var bodies [][]byte
	for i := 0; i < len(payloads); i += ingest.MaxBatch {
		end := min(i+ingest.MaxBatch, len(payloads))
		bodies = append(bodies, append(append([]byte("["), bytes.Join(payloads[i:end], []byte(","))...), ']'))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: ingestClients}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, ingestClients)
	start := time.Now()
	for range ingestClients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(bodies); i = int(next.Add(1) - 1) {
				if err := postBatch(ctx, client, srv.URL+"/v1/resource-changes/batch", bodies[i]); err != nil {
					errs <- fmt.Errorf("batch %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return rate(len(payloads), elapsed), len(payloads), nil
}

// postBatch posts one batch and checks it is answered 200.
func postBatch(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	if bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("an item was refused: %.200s", b)
	}
	return nil
}
