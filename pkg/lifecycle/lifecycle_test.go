package lifecycle_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/lifecycle"
)

// journal records the order of shutdown events.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.events, " → ")
}

// releases records each release step by name.
func releases(j *journal, names ...string) []lifecycle.Release {
	var rs []lifecycle.Release
	for _, n := range names {
		rs = append(rs, lifecycle.Release{Name: n, Release: func(context.Context) error { j.add(n); return nil }})
	}
	return rs
}

// waiter is a worker that stops when its context ends.
func waiter(j *journal, name string) lifecycle.Worker {
	return lifecycle.Worker{Name: name, Run: func(ctx context.Context) error {
		<-ctx.Done()
		j.add(name + " stopped")
		return nil
	}}
}

// On SIGTERM with a request in flight: readiness is off while the request
// still runs, the request finishes, then the workers stop, then the
// releases run in their declared order, and Run returns nil.
func TestStopOrder(t *testing.T) {
	var j journal
	adminLn, apiLn := listen(t), listen(t)
	adminURL := "http://" + adminLn.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	api := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		// Hold the request until readiness reports draining.
		for {
			if code, body := get(adminURL + "/readyz"); code == 503 && strings.Contains(body, "draining") {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		j.add("request done")
	})}
	done := startApp(t, ctx, lifecycle.App{
		Admin:           adminLn,
		Servers:         []lifecycle.Server{{Name: "api", Server: api, Listener: apiLn}},
		Workers:         []lifecycle.Worker{waiter(&j, "relay")},
		Releases:        releases(&j, "nats", "pool", "traces"),
		ShutdownTimeout: time.Minute,
	})
	reqDone := make(chan int, 1)
	go func() { code, _ := get("http://" + apiLn.Addr().String()); reqDone <- code }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after a clean stop", err)
	}
	if code := <-reqDone; code != 200 {
		t.Errorf("request in flight answered %d", code)
	}
	if want := "request done → relay stopped → nats → pool → traces"; j.String() != want {
		t.Errorf("stop order %s, want %s", &j, want)
	}
}

// A failing worker stops everything, and its error, named, is returned.
func TestFailingWorkerStopsEverything(t *testing.T) {
	var j journal
	boom := errors.New("boom")
	apiLn := listen(t)
	done := startApp(t, context.Background(), lifecycle.App{
		Servers: []lifecycle.Server{{Name: "api", Server: &http.Server{Handler: http.NotFoundHandler()}, Listener: apiLn}},
		Workers: []lifecycle.Worker{
			waiter(&j, "other"),
			{Name: "relay", Run: func(context.Context) error { return boom }},
		},
		Releases:        releases(&j, "nats"),
		ShutdownTimeout: time.Minute,
	})
	err := <-done
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "relay: ") {
		t.Fatalf("Run = %v, want the relay's error, named", err)
	}
	if want := "other stopped → nats"; j.String() != want {
		t.Errorf("stop order %s, want %s", &j, want)
	}
	if code, _ := get("http://" + apiLn.Addr().String()); code != 0 {
		t.Errorf("API still answers (%d) after Run returned", code)
	}
}

// Workers that ignore their context do not hold Run past the bound: Run
// returns an error naming them, the in-flight context has ended, and the
// releases still ran.
func TestShutdownBound(t *testing.T) {
	var j journal
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	inFlight := make(chan context.Context, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := startApp(t, ctx, lifecycle.App{
		Workers: []lifecycle.Worker{
			waiter(&j, "polite"),
			{Name: "stubborn", Run: func(ctx context.Context) error {
				inFlight <- lifecycle.InFlight(ctx)
				<-release
				return nil
			}},
			{Name: "deaf", Run: func(context.Context) error { <-release; return nil }},
		},
		Releases:        releases(&j, "traces"),
		ShutdownTimeout: 50 * time.Millisecond,
		HandBack:        50 * time.Millisecond,
	})
	work := <-inFlight
	if work.Err() != nil {
		t.Fatal("in-flight context ended before the stop")
	}
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "stubborn: did not stop") || !strings.Contains(err.Error(), "deaf: did not stop") ||
		strings.Contains(err.Error(), "polite") {
		t.Fatalf("Run = %v, want an error naming the two stuck workers only", err)
	}
	if work.Err() == nil {
		t.Error("in-flight context still open after the bound")
	}
	if want := "polite stopped → traces"; j.String() != want {
		t.Errorf("stop order %s, want %s", &j, want)
	}
}

// A listener that fails (here: closed under the server) is a failure like
// a worker's, named by the server.
func TestServerFailure(t *testing.T) {
	ln := listen(t)
	ln.Close()
	err := lifecycle.Run(context.Background(), lifecycle.App{
		Servers:         []lifecycle.Server{{Name: "api", Server: &http.Server{}, Listener: ln}},
		ShutdownTimeout: time.Second,
	})
	if err == nil || !strings.HasPrefix(err.Error(), "api server: ") {
		t.Fatalf("Run = %v, want the api server's error", err)
	}
}

// At the bound, in-flight work is cut short, and a worker that then hands
// its work back and returns stops cleanly (SHUTDOWN_TIMEOUT=0: a crash-like
// stop that still loses nothing).
func TestBoundCutsInFlightWork(t *testing.T) {
	var j journal
	ctx, cancel := context.WithCancel(context.Background())
	taken := make(chan struct{})
	done := startApp(t, ctx, lifecycle.App{
		Workers: []lifecycle.Worker{{Name: "consumer", Run: func(ctx context.Context) error {
			close(taken)
			<-lifecycle.InFlight(ctx).Done() // a message being handled, cut short
			j.add("handed back")
			return nil
		}}},
		Releases: releases(&j, "nats"),
	})
	<-taken
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if want := "handed back → nats"; j.String() != want {
		t.Errorf("stop order %s, want %s", &j, want)
	}
}
