package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A refusal (the per-IP bucket is empty, or the password-hashing admission
// is full) must cost almost nothing: under a flood it is most of what the
// service answers, and every microsecond spent refusing is taken from the
// hashes the service exists to compute. So a refusal is answered before the
// body is read, with a body rendered at start, without its own log line
// (refusals are counted, and summarised in one log line at most every
// refusalLogEvery), after a short hold that keeps a client that ignores
// Retry-After from spinning.

// refusalLogEvery is the most often the refusal summary is logged.
const refusalLogEvery = 10 * time.Second

// DefaultMaxHeld bounds the refused requests held at once. Each is a
// goroutine the server has anyway and a timer; beyond the bound a refusal
// is answered at once.
const DefaultMaxHeld = 1024

// clientClosedRequest is nginx's status for a request whose client went
// away before the answer: not a server error.
const clientClosedRequest = 499

// Gate admits a request to password hashing until its hash is done, or
// refuses it at once with auth.ErrOverloaded (hashing.Hasher.Admit). The
// returned context carries the reservation to the hasher.
type Gate interface {
	Admit(ctx context.Context) (_ context.Context, release func(), err error)
}

// admitted runs h only with a place in the hashing admission, taken before
// the body is read and held until its hash is done.
func (a *api) admitted(h handler) handler {
	if a.gate == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) (string, error) {
		ctx, release, err := a.gate.Admit(r.Context())
		if err != nil {
			return "", err
		}
		defer release()
		return h(w, r.WithContext(ctx))
	}
}

// rendered is a JSON body encoded once, at start.
type rendered []byte

func render(v any) rendered {
	b, _ := json.Marshal(v) // a message always encodes
	return append(b, '\n')
}

// refusals holds and counts refused requests.
type refusals struct {
	log  *slog.Logger
	now  func() time.Time
	hold time.Duration
	held chan struct{}
	// heldNow shows the tarpit's occupancy.
	heldNow prometheus.Gauge

	// Counts since the last summary, and when it was logged (unix ns).
	overloaded, rateLimited atomic.Int64
	last                    atomic.Int64

	busyBody, limitedBody rendered
}

func newRefusals(log *slog.Logger, now func() time.Time, hold time.Duration, maxHeld int, heldNow prometheus.Gauge) *refusals {
	if maxHeld <= 0 {
		maxHeld = DefaultMaxHeld
	}
	return &refusals{log: log, now: now, hold: hold, held: make(chan struct{}, maxHeld), heldNow: heldNow,
		busyBody:    render(message{"The service is busy. Try again shortly."}),
		limitedBody: render(message{"Too many requests. Try again later."}),
	}
}

// wait holds a refused request for the hold time, or until its client hangs
// up, when a place among the held is free; otherwise it returns at once.
// A closed-loop client that ignores Retry-After then sends at most one
// request per hold instead of one per round trip.
func (s *refusals) wait(ctx context.Context) {
	if s.hold <= 0 {
		return
	}
	select {
	case s.held <- struct{}{}:
	default:
		return
	}
	s.heldNow.Inc()
	defer func() { s.heldNow.Dec(); <-s.held }()
	t := time.NewTimer(s.hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// count notes one refusal and, at most every refusalLogEvery, logs how
// many there were since the last summary. The first refusal after a quiet
// spell is logged at once, so the onset of overload shows.
func (s *refusals) count(ctx context.Context, result string) {
	if result == "rate_limited" {
		s.rateLimited.Add(1)
	} else {
		s.overloaded.Add(1)
	}
	now, last := s.now().UnixNano(), s.last.Load()
	if now-last < int64(refusalLogEvery) || !s.last.CompareAndSwap(last, now) {
		return
	}
	var since time.Duration
	if last != 0 {
		since = time.Duration(now - last)
	}
	s.log.WarnContext(ctx, "requests refused", "overloaded", s.overloaded.Swap(0),
		"rate_limited", s.rateLimited.Swap(0), "since_last_summary", since)
}

// quiet marks the request as one observe does not log on its own.
func quiet(ctx context.Context) {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		info.quiet = true
	}
}
