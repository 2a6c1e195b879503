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
	log := app.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	adm := &admin{checks: app.Checks, gatherer: app.Gatherer}
	adminSrv := &http.Server{Handler: adm.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	base := context.WithoutCancel(ctx)
	inFlight, endInFlight := context.WithCancel(base)
	defer endInFlight()
	workCtx, stopWorkers := context.WithCancel(context.WithValue(base, inFlightKey{}, inFlight))
	defer stopWorkers()

	g, gctx := errgroup.WithContext(ctx)
	if app.Admin != nil {
		g.Go(func() error { return serve("admin", adminSrv, app.Admin) })
	}
	for _, s := range app.Servers {
		g.Go(func() error { return serve(s.Name, s.Server, s.Listener) })
	}
	done := make([]chan struct{}, len(app.Workers))
	for i, w := range app.Workers {
		done[i] = make(chan struct{})
		g.Go(func() error {
			defer close(done[i])
			if err := w.Run(workCtx); err != nil {
				return fmt.Errorf("%s: %w", w.Name, err)
			}
			return nil
		})
	}

	<-gctx.Done()
	log.Info("shutting down", "timeout", app.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(base, app.ShutdownTimeout)
	defer cancel()

	// Not ready first, so load balancers stop sending work; then let the
	// requests in flight finish, closing what is left at the bound.
	adm.draining.Store(true)
	for _, s := range app.Servers {
		if err := s.Server.Shutdown(sctx); err != nil {
			log.Warn("requests still in flight at the shutdown timeout; closing", "server", s.Name, "error", err)
			_ = s.Server.Close()
		}
	}
	// Workers after the last request that could give them work.
	stopWorkers()
	handBack := app.HandBack
	if handBack <= 0 {
		handBack = DefaultHandBack
	}
	stuck := waitWorkers(sctx, handBack, endInFlight, app.Workers, done)
	rctx := sctx
	if sctx.Err() != nil {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(base, handBack)
		defer cancel()
	}
	for _, r := range app.Releases {
		if err := r.Release(rctx); err != nil {
			log.Warn("shutdown step failed", "step", r.Name, "error", err)
		}
	}
	_ = adminSrv.Shutdown(rctx)
	_ = adminSrv.Close()

	if stuck != nil {
		// Do not wait for the group: a stuck worker would hang it.
		return errors.Join(failure(ctx, gctx), stuck)
	}
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
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
