package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/hookworker/hookworker/tasks"
)

// asynq fetches tasks in one serial loop per server, one Redis round trip
// per task: with handlers that mostly wait on the network, that loop and
// not the CPU caps a server's throughput, and an idle loop polls Redis
// every TASK_CHECK_INTERVAL for nothing. So a worker runs two asynq servers
// always — one for app_platform, one for email polled 20 times less often
// — and starts more for app_platform, up to WORKER_FETCHERS for that queue,
// each with its share of WORKER_CONCURRENCY, while there is a backlog or a
// steady flow, and stops them one by one when the flow ebbs. wantFetchers
// decides; fetcherPool carries it out.
//
// An idle worker's cost is almost all the always-on server's polls (20 a
// second at TASK_CHECK_INTERVAL's 50 ms). So where Redis has BLMOVE (6.2 and
// later), the idle pool waits on a doorbell instead: one blocking BLMOVE
// that moves the oldest pending task from the tail of app_platform's pending
// list to the same place — a no-op that returns as soon as the list holds a
// task, costing Redis and the worker nothing meanwhile. The doorbell starts
// a wake server polling at TASK_CHECK_INTERVAL, which fetches the task at
// once and runs until the queue has been quiet for wakeHold; the always-on
// server then polls only as a fallback, at the e-mail pace. Every idle
// worker on a Redis hears the doorbell (BLMOVE serves every client blocked
// on a list that stays non-empty): after a quiet spell each of them starts
// its wake server for the first task, the cost of wakeHold of polling,
// never more than polling all the time.

// serverKind is what an asynq server of the pool is for.
type serverKind int

const (
	// baseServer always fetches app_platform.
	baseServer serverKind = iota
	// mailServer always fetches email.
	mailServer
	// extraServer fetches app_platform while tasks flow.
	extraServer
	// quietBaseServer is baseServer when a doorbell wakes the pool: it
	// polls at the e-mail pace, a fallback.
	quietBaseServer
	// wakeServer is the first extra server when a doorbell wakes the
	// pool: it polls at TASK_CHECK_INTERVAL, as baseServer otherwise does.
	wakeServer
)

// The e-mail server's slots, its poll interval in units of
// TASK_CHECK_INTERVAL, and how often it forwards scheduled and retried
// e-mails (two Redis scripts), in units of DELAYED_TASK_CHECK_INTERVAL:
// e-mail retries wait 30 s and more, so a few seconds more are nothing,
// and an idle worker makes two round trips a second fewer.
const (
	mailConcurrency   = 10
	mailPollFactor    = 20
	mailForwardFactor = 5
)

// Scaling constants (see wantFetchers).
const (
	// scaleTick is how often the pool reads the backlog (one LLEN).
	scaleTick = 100 * time.Millisecond
	// fetcherRate is the flow, in tasks/s, one more server is started
	// for. A loop fetches several thousand tasks/s; extras are run long
	// before that so a steady flow is picked up within milliseconds.
	fetcherRate = 200
	// backlogPerFetcher is the pending tasks one more server is started
	// for.
	backlogPerFetcher = 64
	// extraPollDivisor: an extra server polls TASK_CHECK_INTERVAL/4: it
	// runs only while tasks flow, and then a short poll is what keeps the
	// pick-up latency low.
	extraPollDivisor = 4
	// wakeHold is how long after the last task started the pool keeps its
	// wake server before it waits on the doorbell again.
	wakeHold = 3 * time.Second
	// ringTimeout bounds one doorbell wait (the blocking BLMOVE), so a
	// wait the pool no longer needs frees its connection soon.
	ringTimeout = 2 * time.Second
)

// fetcherLoad is what the pool saw over the last tick.
type fetcherLoad struct {
	// Running is how many servers run now (at least 1), Max the most
	// allowed (WORKER_FETCHERS).
	Running, Max int
	// Pending is the tasks waiting in app_platform.
	Pending int64
	// Started is the tasks the process started during the tick.
	Started int64
	Tick    time.Duration
}

// wantFetchers returns how many app_platform servers should run for the
// next tick: one more per full fetcherRate tasks/s started and per
// backlogPerFetcher pending tasks or part of it, whichever asks more. It jumps up at once (a backlog is cleared at
// full speed), but goes down by one per tick, so a pause of a few ticks in
// a steady flow does not stop the servers the flow will need again.
func wantFetchers(l fetcherLoad) int {
	perSecond := float64(l.Started) / max(l.Tick.Seconds(), 1e-3)
	want := 1 + int(perSecond/fetcherRate)
	if l.Pending > 0 {
		want = max(want, 1+int((l.Pending+backlogPerFetcher-1)/backlogPerFetcher))
	}
	want = min(max(want, 1), max(l.Max, 1))
	if want < l.Running {
		return l.Running - 1
	}
	return want
}

// fetcherPool runs the process's asynq servers: mail and servers[0]
// always, the others as wantFetchers says.
type fetcherPool struct {
	newServer func(serverKind) *asynq.Server
	handler   asynq.Handler
	rdb       redis.Cmdable
	max       int
	log       *zap.Logger
	// started and inFlight count the tasks the handler began and runs
	// (the middleware's).
	started, inFlight *atomic.Int64
	// woken wakes the idle scaling loop (capacity 1).
	woken chan struct{}
	// doorbell says the idle loop waits on the doorbell (BLMOVE answered
	// at start); ring is the doorbell wait in progress, if any.
	doorbell bool
	ring     chan error

	mail     *asynq.Server
	mu       sync.Mutex
	servers  []*asynq.Server
	retiring sync.WaitGroup
	stop     context.CancelFunc
	done     chan struct{}
}

// start starts the always-on servers and the scaling loop.
func (p *fetcherPool) start() error {
	kind := baseServer
	if p.max > 1 && p.probeDoorbell() {
		p.doorbell, kind = true, quietBaseServer
	}
	base := p.newServer(kind)
	if err := base.Start(p.handler); err != nil {
		return err
	}
	p.mail = p.newServer(mailServer)
	if err := p.mail.Start(p.handler); err != nil {
		base.Shutdown()
		return err
	}
	p.servers = []*asynq.Server{base}
	if p.max <= 1 {
		return nil
	}
	// A backlog waiting at start is fetched at full speed at once, not
	// after the first ticks.
	p.mu.Lock()
	p.scaleNow(context.Background(), fetcherLoad{Running: 1, Max: p.max, Tick: scaleTick})
	p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go p.loop(ctx)
	return nil
}

// pendingKey is asynq's list of app_platform's pending tasks.
var pendingKey = "asynq:{" + tasks.QueueAppPlatform + "}:pending"

func (p *fetcherPool) loop(ctx context.Context) {
	defer close(p.done)
	ticker := time.NewTicker(scaleTick)
	defer ticker.Stop()
	last, lastAt := p.started.Load(), time.Now()
	activeAt := lastAt // the last tick a task started or ran
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		now, started := time.Now(), p.started.Load()
		if started != last || p.inFlight.Load() > 0 {
			activeAt = now
		}
		if started == last && p.inFlight.Load() == 0 && p.running() == 1 {
			// Idle: the always-on server would have started anything
			// pending. Sleep until a task starts, or the doorbell rings,
			// instead of ticking.
			ticker.Stop()
			if !p.waitIdle(ctx) {
				return
			}
			ticker.Reset(scaleTick)
			last, lastAt = p.started.Load(), time.Now()
			activeAt = lastAt
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, scaleTick)
		pending, err := p.rdb.LLen(rctx, pendingKey).Result()
		cancel()
		if err != nil {
			continue // Redis trouble: keep what runs
		}
		p.mu.Lock()
		want := wantFetchers(fetcherLoad{Running: len(p.servers), Max: p.max, Pending: pending, Started: started - last, Tick: now.Sub(lastAt)})
		if p.doorbell && now.Sub(activeAt) < wakeHold {
			want = max(want, min(2, p.max)) // keep the wake server
		}
		p.resize(want)
		p.mu.Unlock()
		last, lastAt = started, now
	}
}

// waitIdle waits until a task starts or, with a doorbell, until the
// doorbell rings, which starts the wake server. It returns false when ctx
// ends.
func (p *fetcherPool) waitIdle(ctx context.Context) bool {
	for {
		if !p.doorbell {
			select {
			case <-ctx.Done():
				return false
			case <-p.woken:
				return true
			}
		}
		if p.ring == nil {
			ring := make(chan error, 1)
			p.ring = ring
			go func() {
				rctx, cancel := context.WithTimeout(ctx, ringTimeout+time.Second)
				defer cancel()
				// Tail to tail of the same list: nothing moves.
				err := p.rdb.BLMove(rctx, pendingKey, pendingKey, "RIGHT", "RIGHT", ringTimeout).Err()
				ring <- err
			}()
		}
		select {
		case <-ctx.Done():
			return false
		case <-p.woken:
			return true // the wait in progress is reused next time
		case err := <-p.ring:
			p.ring = nil
			switch {
			case err == nil: // a task is pending
				p.mu.Lock()
				p.resize(min(2, p.max))
				// As many more as the backlog asks for, now.
				p.scaleNow(ctx, fetcherLoad{Running: len(p.servers), Max: p.max, Tick: scaleTick})
				p.mu.Unlock()
				return true
			case errors.Is(err, redis.Nil): // nothing within ringTimeout
			default: // Redis trouble: the always-on server still polls
				select {
				case <-ctx.Done():
					return false
				case <-p.woken:
					return true
				case <-time.After(time.Second):
				}
			}
		}
	}
}

// scaleNow reads the backlog and starts the servers it asks for, at
// once; l carries everything but Pending. Called with mu held.
func (p *fetcherPool) scaleNow(ctx context.Context, l fetcherLoad) {
	rctx, cancel := context.WithTimeout(ctx, scaleTick)
	pending, err := p.rdb.LLen(rctx, pendingKey).Result()
	cancel()
	if err != nil || pending == 0 {
		return
	}
	l.Pending = pending
	if want := wantFetchers(l); want > len(p.servers) {
		p.resize(want)
	}
}

// probeDoorbell reports whether Redis has the doorbell's command (LMOVE,
// BLMOVE's non-blocking form, on a key that does not exist).
func (p *fetcherPool) probeDoorbell() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.rdb.LMove(ctx, probeKey, probeKey, "RIGHT", "RIGHT").Err()
	return errors.Is(err, redis.Nil)
}

// probeKey is a key that never exists, for probeDoorbell.
const probeKey = "hookworker:doorbell-probe"

// wake tells an idle scaling loop that a task started.
func (p *fetcherPool) wake() {
	select {
	case p.woken <- struct{}{}:
	default:
	}
}

// resize starts or retires extra servers until want run. A retired server
// stops fetching at once and finishes its deliveries in the background.
// Called with mu held.
func (p *fetcherPool) resize(want int) {
	for len(p.servers) < want {
		kind := extraServer
		if p.doorbell && len(p.servers) == 1 {
			kind = wakeServer
		}
		srv := p.newServer(kind)
		if err := srv.Start(p.handler); err != nil {
			p.log.Warn("worker.fetcher_not_started", zap.Error(err))
			return
		}
		p.servers = append(p.servers, srv)
	}
	for len(p.servers) > max(want, 1) {
		srv := p.servers[len(p.servers)-1]
		p.servers = p.servers[:len(p.servers)-1]
		p.retiring.Go(srv.Shutdown)
	}
}

// running is how many app_platform servers run.
func (p *fetcherPool) running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.servers)
}

// shutdown stops scaling, then shuts every server down at once (each
// waits up to SHUTDOWN_TIMEOUT for its deliveries, then returns the rest
// to the queue) and waits for the retiring ones.
func (p *fetcherPool) shutdown() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	p.mu.Lock()
	servers := p.servers
	p.servers = nil
	p.mu.Unlock()
	if p.mail != nil {
		servers = append(servers, p.mail)
	}
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
	p.retiring.Wait()
}
