// Package ops is hookworker's operator HTTP server: liveness and readiness
// probes, Prometheus metrics (the worker's series and asynq's queue series)
// and the asynq web UI (asynqmon), optionally behind HTTP basic auth. It runs
// inside the worker process, on HTTP_ADDR.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// MonitoringPath is where the asynq web UI and its API are mounted.
const MonitoringPath = "/monitoring"

// Options are the operator server's dependencies and settings. Addr, Redis,
// RedisURL, PingDB, Gatherer and Log are required.
type Options struct {
	// Addr is the listen address (HTTP_ADDR), e.g. 127.0.0.1:8080; port 0
	// picks a free port (see Server.Addr).
	Addr string
	// BasicAuth is "user:pass" (OPS_BASIC_AUTH) protecting /monitoring/ and
	// /metrics; empty leaves them open.
	BasicAuth string
	// ReadOnly mounts the queue UI read-only (OPS_READ_ONLY).
	ReadOnly bool
	// Insecure (OPS_INSECURE) lets the server listen beyond loopback
	// without BasicAuth; without it New refuses (see CheckExposure).
	Insecure bool
	// AllowedHosts (OPS_ALLOWED_HOSTS) are the host names, besides
	// localhost, Addr's host and IP addresses, that requests may carry in
	// their Host header; "*.example.com" allows every subdomain.
	AllowedHosts []string
	// Redis is the worker's shared client (one node, Sentinel or cluster):
	// /readyz pings it and the queue metrics read through it. It is never
	// closed here.
	Redis redis.UniversalClient
	// RedisURL is the same Redis as a REDIS_URL (see package redisconn). The queue
	// UI connects with it through a small pool of its own, because asynqmon
	// closes the clients it is given.
	RedisURL string
	// PingDB reports whether the database answers (see PingGorm).
	PingDB func(context.Context) error
	// Gatherer holds the worker's series (metrics.Metrics.Registry).
	Gatherer prometheus.Gatherer
	// Log receives the server's events.
	Log *zap.Logger
	// Console serves the integration console (/apps/ and /api/apps) when
	// set, behind BasicAuth; its actions are hidden and refused (405)
	// under ReadOnly.
	Console *Console
	// ReadyTimeout bounds each readiness check. Defaults to 1s.
	ReadyTimeout time.Duration
}

// Server is the operator HTTP server. Create it with New, then Start it;
// Shutdown stops it and releases the UI's Redis connections.
type Server struct {
	opts    Options
	handler http.Handler
	ui      *asynqmon.HTTPHandler
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
	// ready is the last readiness outcome, to log only its changes.
	ready atomic.Bool
}

// New builds the routes; nothing listens until Start.
func New(o Options) (*Server, error) {
	switch {
	case o.Redis == nil:
		return nil, errors.New("ops: a Redis client is required")
	case o.PingDB == nil:
		return nil, errors.New("ops: a database ping is required")
	case o.Gatherer == nil:
		return nil, errors.New("ops: a metrics gatherer is required")
	case o.Log == nil:
		return nil, errors.New("ops: a logger is required")
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = time.Second
	}
	if err := CheckExposure(o.Addr, o.BasicAuth, o.Insecure); err != nil {
		return nil, err
	}
	auth, err := newBasicAuth(o.BasicAuth)
	if err != nil {
		return nil, err
	}
	uiConn, err := newUIRedis(o.RedisURL)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, done: make(chan struct{})}
	s.ready.Store(true)
	s.ui = asynqmon.New(asynqmon.Options{
		RootPath:     MonitoringPath,
		RedisConnOpt: uiConn,
		ReadOnly:     o.ReadOnly,
		// Payloads and results are cut to uiMaxPayload (ops/payload.go).
		PayloadFormatter: asynqmon.PayloadFormatterFunc(uiPayload),
		ResultFormatter:  asynqmon.ResultFormatterFunc(uiPayload),
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index(o.Console != nil))
	if o.Console != nil {
		h, err := newConsoleHandlers(o.Console, o.ReadOnly, o.BasicAuth, o.Log.Named("console"))
		if err != nil {
			return nil, err
		}
		h.mount(mux, auth)
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", auth.wrap(metricsHandler(o.Gatherer, o.Redis, o.Log)))
	mux.Handle(s.ui.RootPath()+"/", auth.wrap(s.ui))
	// Go's profiler, for operators chasing CPU or memory; behind the same
	// credentials as the metrics.
	mux.Handle("GET /debug/pprof/", auth.wrap(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", auth.wrap(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/trace", auth.wrap(http.HandlerFunc(pprof.Trace)))
	// Every request must name this server (DNS rebinding), and every
	// state-changing one must come from its own pages (CSRF).
	s.handler = newHostGuard(o.Addr, o.AllowedHosts).wrap(sameOrigin(mux))
	return s, nil
}

// Handler returns the routes, for tests that serve them themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on Options.Addr and serves in the background. A taken port is
// reported here, before the worker starts taking tasks.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("operator HTTP server: listen on %s (set HTTP_ADDR to another address, or to off): %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.opts.Log.Named("http")),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Log.Error("ops.serve_failed", zap.Error(err))
		}
	}()
	if s.opts.BasicAuth == "" && !IsLoopbackAddr(s.opts.Addr) {
		s.opts.Log.Warn("ops.insecure: OPS_INSECURE=true and no OPS_BASIC_AUTH, so anyone who reaches the port can use the queue UI and the integration console",
			zap.String("addr", ln.Addr().String()))
	}
	s.opts.Log.Info("ops.listening", zap.String("addr", ln.Addr().String()),
		zap.String("monitoring", "http://"+ln.Addr().String()+MonitoringPath+"/"),
		zap.Bool("basic_auth", s.opts.BasicAuth != ""), zap.Bool("read_only", s.opts.ReadOnly))
	return nil
}

// Addr returns the address the server listens on (useful with port 0), or ""
// before Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting requests, waits for those in flight until ctx
// ends, and closes the UI's Redis connections. It is safe to call on a
// server that was never started.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.srv != nil {
		if err = s.srv.Shutdown(ctx); err != nil {
			err = fmt.Errorf("operator HTTP server: shutdown: %w", err)
			s.srv.Close()
		}
		<-s.done
	}
	if cerr := s.ui.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("operator HTTP server: close queue UI: %w", cerr)
	}
	return err
}

// index lists the endpoints, for a person who opens the bare address.
func index(console bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, indexText)
		if console {
			fmt.Fprint(w, indexConsoleText)
		}
	}
}

const indexText = `hookworker operator endpoints:
  /healthz       200 while the process runs
  /readyz        200 when Redis and the database answer, else 503 with the reason
  /metrics       Prometheus metrics
  /monitoring/   asynq web UI (queues, tasks, retries, archive)
  /debug/pprof/  Go profiler
`

const indexConsoleText = `  /apps/         integration console (apps, breaker counters, request log, re-enable)
  /api/apps      the console's JSON API
`
