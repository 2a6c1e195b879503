package main

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is one request's answer: the HTTP status (0 when none came back),
// whether it carried Retry-After, and whether it is what the scenario expects.
type outcome struct {
	status     int
	retryAfter bool
	ok         bool
	err        error
	pause      time.Duration // a closed-loop client waits this long before its next request
}

// op is one request of a scenario; i counts requests from 1.
type op func(ctx context.Context, i int64) outcome

func expect(want func(int) bool) func(int, bool, error) outcome {
	return func(st int, ra bool, err error) outcome {
		return outcome{status: st, retryAfter: ra, ok: err == nil && want(st), err: err}
	}
}

// shape is how a scenario is driven: closed loop at a concurrency, or open
// loop at a rate (requests are started on schedule whatever the answers do,
// and latency is measured from the scheduled time, so a slow server cannot
// hide its queueing: no coordinated omission).
type shape struct {
	Concurrency int           // closed loop when > 0
	Rate        float64       // open loop (requests/s) when > 0
	Warmup      time.Duration // not recorded
	Duration    time.Duration
	MaxInFlight int // open loop: requests beyond this are counted as "dropped"
	// Ceiling, when set, measures the rate the scenario is judged against;
	// runner.measure runs it right before (run 0) and right after (run 1)
	// the scenario, each after the system settled.
	Ceiling func(ctx context.Context, run int) (float64, error)
}

// result is what a run of one scenario recorded.
type result struct {
	Latencies []time.Duration // of every answered request
	Served    []time.Duration // of 2xx/expected answers only
	Classes   map[string]int64
	Retry     struct{ With, Without int64 } // 429/503 with and without Retry-After
	Elapsed   time.Duration
	Count     int64
	OK        int64
}

type recorder struct {
	mu  sync.Mutex
	res result
	on  atomic.Bool
}

func newRecorder() *recorder {
	return &recorder{res: result{Classes: map[string]int64{}}}
}

func (r *recorder) record(d time.Duration, o outcome) {
	if !r.on.Load() {
		return
	}
	status, retryAfter := o.status, o.retryAfter
	cls := classify(o)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Count++
	r.res.Classes[cls]++
	if status != 0 {
		r.res.Latencies = append(r.res.Latencies, d)
	}
	if cls == "ok" {
		r.res.OK++
		r.res.Served = append(r.res.Served, d)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if retryAfter {
			r.res.Retry.With++
		} else {
			r.res.Retry.Without++
		}
	}
}

func classify(o outcome) string {
	status, err := o.status, o.err
	switch {
	case err != nil && status == 0:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return "timeout"
		}
		return "conn_error"
	case o.ok:
		return "ok"
	case status == http.StatusTooManyRequests:
		return "429"
	case status == http.StatusServiceUnavailable:
		return "503"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	default:
		return "other"
	}
}

// drive runs o with the shape until its warm-up and duration pass (or ctx
// ends) and returns what was recorded after the warm-up.
func drive(ctx context.Context, s shape, o op) result {
	rec := newRecorder()
	ctx, cancel := context.WithTimeout(ctx, s.Warmup+s.Duration)
	defer cancel()
	var seq atomic.Int64
	var startedAt time.Time
	var startMu sync.Mutex
	go func() {
		select {
		case <-time.After(s.Warmup):
			startMu.Lock()
			startedAt = time.Now()
			startMu.Unlock()
			rec.on.Store(true)
		case <-ctx.Done():
		}
	}()
	one := func(scheduled time.Time) outcome {
		// Requests that run past the end still finish with their own
		// timeout, so the slowest answers are counted, not cut.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer rcancel()
		out := o(rctx, seq.Add(1))
		rec.record(time.Since(scheduled), out)
		return out
	}
	var wg sync.WaitGroup
	if s.Concurrency > 0 {
		for range s.Concurrency {
			wg.Go(func() {
				for ctx.Err() == nil {
					if out := one(time.Now()); out.pause > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(out.pause):
						}
					}
				}
			})
		}
	} else {
		interval := time.Duration(float64(time.Second) / s.Rate)
		maxIn := s.MaxInFlight
		if maxIn == 0 {
			maxIn = 4096
		}
		sem := make(chan struct{}, maxIn)
		next := time.Now()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(time.Until(next)):
			}
			scheduled := next
			next = next.Add(interval)
			select {
			case sem <- struct{}{}:
				wg.Go(func() {
					defer func() { <-sem }()
					one(scheduled)
				})
			default:
				if rec.on.Load() {
					rec.mu.Lock()
					rec.res.Classes["dropped"]++
					rec.mu.Unlock()
				}
			}
		}
	}
	<-ctx.Done()
	end := time.Now()
	wg.Wait()
	rec.on.Store(false)
	startMu.Lock()
	if !startedAt.IsZero() {
		rec.res.Elapsed = end.Sub(startedAt)
	}
	startMu.Unlock()
	return rec.res
}

// latency summarises a set of durations.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return latency{N: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*100) / 100 }
