// Package lifecycle runs a service's servers and workers and stops them in
// one declared order, the same way in every service:
//
//	readiness off → drain HTTP → stop workers → release (drain NATS, close
//	the pool, flush traces) → close the admin port
//
// on the first of: the parent context ending (SIGTERM) or any server or
// worker failing. SHUTDOWN_TIMEOUT bounds the whole stop. A service's run
// builds an App (config → dependencies → servers and workers) and calls Run.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// Server is an HTTP server and its listener (bound by the caller, so tests
// can use port 0 and learn the address).
type Server struct {
	Name     string
	Server   *http.Server
	Listener net.Listener
}

// Worker is a long-running job: it returns when ctx ends (nil), or earlier
// with an error that stops the whole app. Work in flight when ctx ends may
// go on with InFlight(ctx) until the shutdown bound.
type Worker struct {
	Name string
	Run  func(ctx context.Context) error
}

// Release is a shutdown step after the workers: drain NATS, close the pool,
// flush traces. Its error is logged, not returned: the work is done by then.
type Release struct {
	Name    string
	Release func(ctx context.Context) error
}

// App is everything a service runs.
type App struct {
	Logger *slog.Logger
	// Admin serves /healthz, /readyz (Checks, in order), /metrics (Gatherer)
	// and pprof. It keeps answering until everything else has stopped.
	Admin    net.Listener
	Gatherer prometheus.Gatherer
	// AdminAPI, when set, is served under /admin/ on the admin port: an
	// operators' API that must never be reachable on a public listener.
	AdminAPI http.Handler
	Checks   []Check
	Servers  []Server  // drained in this order
	Workers  []Worker  // stopped together, after the servers
	Releases []Release // in this order, after the workers
	// ShutdownTimeout bounds the stop, from readiness off to the last
	// release. When it passes, work in flight is cut short (InFlight ends)
	// and workers and releases get HandBack more to return, so a cut-short
	// message is handed back and traces are flushed: the pod's grace period
	// must cover both.
	ShutdownTimeout time.Duration
	HandBack        time.Duration // default DefaultHandBack
}

// DefaultHandBack is App.HandBack when unset.
const DefaultHandBack = time.Second

type inFlightKey struct{}

// InFlight is the context for work a worker has already taken when its ctx
// ends: it outlives ctx and ends when the shutdown bound passes, so a
// message being handled can finish (or be handed back when cut short).
// Outside Run it is ctx without its cancellation.
func InFlight(ctx context.Context) context.Context {
	if c, ok := ctx.Value(inFlightKey{}).(context.Context); ok {
		return c
	}
	return context.WithoutCancel(ctx)
}

// Run starts the admin port, the servers and the workers under one errgroup
// and blocks until ctx ends or one of them fails; then it stops everything
// in order. It returns nil after a clean stop on ctx, the first failure
// otherwise, joined with the name of any worker that did not stop in time.
func Run(ctx context.Context, app App) error {
	if app.Logger == nil {
		app.Logger = slog.New(slog.DiscardHandler)
	}
	if app.HandBack <= 0 {
		app.HandBack = DefaultHandBack
	}
	r := &runner{app: app, adm: &admin{checks: app.Checks, gatherer: app.Gatherer, api: app.AdminAPI}, base: context.WithoutCancel(ctx)}
	inFlight, endInFlight := context.WithCancel(r.base)
	r.endInFlight = endInFlight
	defer endInFlight()
	workCtx, stopWorkers := context.WithCancel(context.WithValue(r.base, inFlightKey{}, inFlight))
	r.stopWorkers = stopWorkers
	defer stopWorkers()

	g, gctx := errgroup.WithContext(ctx)
	r.adminSrv = &http.Server{Handler: r.adm.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(app.Logger.Handler(), slog.LevelWarn)}
	if app.Admin != nil {
		g.Go(func() error { return serve("admin", r.adminSrv, app.Admin) })
	}
	for _, s := range app.Servers {
		g.Go(func() error { return serve(s.Name, s.Server, s.Listener) })
	}
	r.done = make([]chan struct{}, len(app.Workers))
	for i, w := range app.Workers {
		r.done[i] = make(chan struct{})
		g.Go(func() error {
			defer close(r.done[i])
			if err := w.Run(workCtx); err != nil {
				return fmt.Errorf("%s: %w", w.Name, err)
			}
			return nil
		})
	}

	<-gctx.Done()
	if stuck := r.stop(); stuck != nil {
		// Do not wait for the group: a stuck worker would hang it.
		return errors.Join(failure(ctx, gctx), stuck)
	}
	if err := g.Wait(); err != nil {
		return err
	}
	app.Logger.Info("stopped")
	return nil
}

// runner is one Run's state, shared by its start and its stop.
type runner struct {
	app         App
	adm         *admin
	adminSrv    *http.Server
	base        context.Context // ctx without its cancellation
	endInFlight context.CancelFunc
	stopWorkers context.CancelFunc
	done        []chan struct{} // closed when worker i returns
}

// stop runs the shutdown in its declared order and names the workers that
// did not return in time.
func (r *runner) stop() error {
	log := r.app.Logger
	log.Info("shutting down", "timeout", r.app.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(r.base, r.app.ShutdownTimeout)
	defer cancel()

	// Not ready first, so load balancers stop sending work; then let the
	// requests in flight finish, closing what is left at the bound.
	r.adm.draining.Store(true)
	for _, s := range r.app.Servers {
		if err := s.Server.Shutdown(sctx); err != nil {
			log.Warn("requests still in flight at the shutdown timeout; closing", "server", s.Name, "error", err)
			_ = s.Server.Close()
		}
	}
	// Workers after the last request that could give them work.
	r.stopWorkers()
	stuck := waitWorkers(sctx, r.app.HandBack, r.endInFlight, r.app.Workers, r.done)
	// Past the bound, the releases still get the hand-back time: NATS
	// needs it to flush, the tracer to export.
	rctx := sctx
	if sctx.Err() != nil {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(r.base, r.app.HandBack)
		defer cancel()
	}
	for _, rel := range r.app.Releases {
		if err := rel.Release(rctx); err != nil {
			log.Warn("shutdown step failed", "step", rel.Name, "error", err)
		}
	}
	_ = r.adminSrv.Shutdown(rctx)
	_ = r.adminSrv.Close()
	return stuck
}

// waitWorkers waits for every worker until ctx ends; then it ends the
// in-flight work, waits handBack more, and names the workers that have not
// returned by then.
func waitWorkers(ctx context.Context, handBack time.Duration, endInFlight func(), workers []Worker, done []chan struct{}) error {
	defer endInFlight()
	var late context.Context
	var errs []error
	for i, w := range workers {
		select {
		case <-done[i]:
			continue
		case <-ctx.Done():
		}
		if late == nil {
			endInFlight()
			var cancel context.CancelFunc
			late, cancel = context.WithTimeout(context.WithoutCancel(ctx), handBack)
			defer cancel()
		}
		select {
		case <-done[i]:
		case <-late.Done():
			errs = append(errs, fmt.Errorf("%s: did not stop within the shutdown timeout", w.Name))
		}
	}
	return errors.Join(errs...)
}

// failure is the error that started the shutdown, nil for ctx ending.
func failure(parent, group context.Context) error {
	if parent.Err() != nil {
		return nil
	}
	return context.Cause(group)
}

func serve(name string, srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}
