// Package metrics defines hookworker's Prometheus series (the names of
// interfaces.md) on a registry of its own, so tests and processes never share
// global state.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every series the worker updates.
type Metrics struct {
	// Registry serves /metrics.
	Registry *prometheus.Registry
	// Processed is hookworker_resource_change_processed_total{change_event}.
	Processed *prometheus.CounterVec
	// Responses is hookworker_webhook_responses_total{status,integration,webhook_event}.
	Responses *prometheus.CounterVec
	// Duration is hookworker_webhook_duration_seconds, one observation per attempt.
	Duration prometheus.Histogram
	// Disabled is hookworker_integrations_disabled_total.
	Disabled prometheus.Counter
	// Emails is hookworker_emails_sent_total{result}.
	Emails *prometheus.CounterVec
	// Refused is hookworker_webhook_refused_total: deliveries the network
	// guard refused.
	Refused prometheus.Counter
	// Rejected is hookworker_tasks_rejected_total{reason}: malformed payloads archived.
	Rejected *prometheus.CounterVec
	// Deferred is hookworker_webhook_deferred_total{integration}: deliveries
	// scheduled again for later, not attempted, because their app was at
	// its concurrency limit in this process. Not a failure: no retry is
	// spent. The label is the app's, as in Responses.
	Deferred *prometheus.CounterVec
}

// New creates the series on a new registry, with Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookworker_resource_change_processed_total",
			Help: "Resource-change tasks processed without error, by event.",
		}, []string{"change_event"}),
		Responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookworker_webhook_responses_total",
			Help: "Webhook attempts by status code (or timeout/connectionerror), integration and event.",
		}, []string{"status", "integration", "webhook_event"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookworker_webhook_duration_seconds",
			Help:    "Wall time of webhook attempts.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		Disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookworker_integrations_disabled_total",
			Help: "Internal integrations disabled by the breaker.",
		}),
		Emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookworker_emails_sent_total",
			Help: "E-mail send attempts by result (sent, failed).",
		}, []string{"result"}),
		Refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookworker_webhook_refused_total",
			Help: "Deliveries refused by the network guard.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookworker_tasks_rejected_total",
			Help: "Tasks archived at once because their payload was malformed (task_type is the task's type) or their type is unknown (task_type=\"unknown\").",
		}, []string{"task_type"}),
		Deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookworker_webhook_deferred_total",
			Help: "Deliveries scheduled again for later, not attempted, because their app was at its concurrency limit in this process.",
		}, []string{"integration"}),
	}
	// The statuses are known in advance: their series exist from the start
	// (at 0), so dashboards and alerts find them before a first deferral.
	m.Deferred.WithLabelValues("internal")
	m.Deferred.WithLabelValues("unpublished")
	m.Registry.MustRegister(m.Processed, m.Responses, m.Duration, m.Disabled, m.Emails, m.Refused, m.Rejected, m.Deferred,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
