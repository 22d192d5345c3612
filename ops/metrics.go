package ops

import (
	"net/http"

	"github.com/hibiken/asynq"
	queuemetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// metricsHandler serves the worker's series and asynq's queue series
// (asynq_queue_size, asynq_queue_latency_seconds, asynq_tasks_processed_total,
// …) in one Prometheus exposition. The queue series live on a registry of
// their own, so the worker's registry is never modified; each scrape queries
// Redis through the shared client (series appear only for queues that exist).
func metricsHandler(worker prometheus.Gatherer, rdb redis.UniversalClient, log *zap.Logger) http.Handler {
	queues := prometheus.NewRegistry()
	queues.MustRegister(unchecked{queuemetrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(rdb))})
	return promhttp.HandlerFor(prometheus.Gatherers{worker, queues}, promhttp.HandlerOpts{
		ErrorLog:      zap.NewStdLog(log.Named("metrics")),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// unchecked registers a collector without describing it up front. asynq's
// queue collector describes itself by collecting, which would query Redis at
// registration; its series vary with the queues that exist anyway.
type unchecked struct{ prometheus.Collector }

// Describe sends nothing, which makes the registry treat the collector as
// unchecked.
func (unchecked) Describe(chan<- *prometheus.Desc) {}
