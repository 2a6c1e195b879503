// Package hashing is auth-api's password hasher: argon2id in the format of
// passhash, at most a configured number of hashes at once, and an admission
// gate that turns work away at once when it could not be served in time. It
// implements auth.PasswordHasher and answers auth.ErrOverloaded.
package hashing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// Options bound the work hashing may do at once.
type Options struct {
	// Concurrency is the number of hashes computed at once. Each holds
	// Params.MemoryKiB of memory, so this bounds the memory hashing uses.
	Concurrency int
	// QueueTimeout is the wait for a slot the queue is sized for: only as
	// many callers queue as can be served within it at the recent hash
	// time. A queued caller gives up after backstop × QueueTimeout.
	QueueTimeout time.Duration
	Registerer   prometheus.Registerer
	// TracerProvider traces the wait for a slot and each hash; nil: none.
	TracerProvider trace.TracerProvider
}

// Hasher hashes and verifies passwords, at most Concurrency at a time.
type Hasher struct {
	params  passhash.Params
	slots   chan struct{}
	timeout time.Duration
	dummy   string
	// waiting counts callers queued for a slot; beyond maxWaiting() a
	// caller could not be served within the timeout, so it is turned away
	// at once. recent is a moving average of hash times in nanoseconds.
	waiting  atomic.Int64
	admitted atomic.Int64 // operations holding an Admit reservation
	recent   atomic.Int64

	tracer   trace.Tracer
	duration *prometheus.HistogramVec
	wait     prometheus.Histogram
	timeouts prometheus.Counter
}

// New returns a Hasher with the given parameters. It computes one hash to
// serve as the dummy that logins for unknown emails are checked against.
func New(p passhash.Params, opts Options) (*Hasher, error) {
	if opts.Concurrency < 1 {
		return nil, errors.New("hasher: concurrency must be at least 1")
	}
	if p.MemoryKiB == 0 || p.Time == 0 || p.Parallelism == 0 {
		return nil, errors.New("hasher: argon2 parameters must be positive")
	}
	h := &Hasher{
		params:  p,
		slots:   make(chan struct{}, opts.Concurrency),
		timeout: opts.QueueTimeout,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kairos_password_hash_duration_seconds",
			Help:    "Time to compute one argon2id hash, by operation (hash or verify).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kairos_password_hash_wait_seconds",
			Help:    "Time a request waited for a password-hashing slot.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_password_hash_slot_timeouts_total",
			Help: "Requests turned away with 503 because no hashing slot could be had within HASH_QUEUE_TIMEOUT.",
		}),
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	h.tracer = opts.TracerProvider.Tracer(tracerName)
	h.duration.WithLabelValues("hash")
	h.duration.WithLabelValues("verify")
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{h.duration, h.wait, h.timeouts} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("hasher metrics: %w", err)
			}
		}
	}
	// The dummy is the hash of a random secret nobody knows, with the
	// configured parameters, so checking a password against it costs what a
	// real check costs and never succeeds.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
	start := time.Now()
	h.dummy = passhash.Hash(string(secret), p)
	h.recent.Store(int64(time.Since(start)))
	return h, nil
}

// Hash returns the PHC string of password, waiting for a slot if needed.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.tracedAcquire(ctx, "hash")
	if err != nil {
		return "", err
	}
	defer release()
	var s string
	h.traced(ctx, "hash", h.params, func() {
		start := time.Now()
		s = passhash.Hash(password, h.params)
		h.observe("hash", time.Since(start))
	})
	hashed(ctx)
	return s, nil
}

// Verify reports whether password matches the PHC string encoded, and whether
// encoded was made with weaker parameters than configured (so the caller
// should store a new hash). An empty encoded is checked against the dummy
// hash: the same work, always false.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if encoded == "" {
		encoded = h.dummy
	}
	stored, err := passhash.Parse(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.tracedAcquire(ctx, "verify")
	if err != nil {
		return false, false, err
	}
	defer release()
	h.traced(ctx, "verify", stored.Params(), func() {
		start := time.Now()
		ok = stored.Matches(password)
		h.observe("verify", time.Since(start))
	})
	hashed(ctx)
	return ok, stored.WeakerThan(h.params), nil
}

// backstop bounds a queued caller's wait, in queue timeouts. The queue is
// sized so that its callers are served within one; a caller admitted to it
// is then served, not timed out, when a few hashes run slow (a collection,
// another process on the core): at 32 closed-loop clients, timing out at
// exactly the queue timeout refused 9 of 1,125 logins the bound had
// admitted. Twice the timeout let the served p99 of a 1,000-client flood
// reach 1.13 s (700 ms queue), past its 1 s floor.
const backstop = 1.5

// recentWeight is the weight of one hash in the moving average of hash
// times: small enough that a few slow hashes do not shrink the queue bound
// below the concurrency it serves in steady state, large enough to follow a
// flood within a second (16 hashes are a quarter of a second on two cores).
const recentWeight = 16

// observe records one hash's duration in the histogram and the moving
// average (concurrent updates may drop one sample, which only delays the
// average a little).
func (h *Hasher) observe(op string, d time.Duration) {
	h.duration.WithLabelValues(op).Observe(d.Seconds())
	old := h.recent.Load()
	h.recent.Store(old + (int64(d)-old)/recentWeight)
}

// maxWaiting is how many callers can queue for a slot and still be served
// within the timeout at the recent hash time, at least one per slot. It
// shrinks when hashes slow down — under a flood the CPU is shared with the
// rejections — so that a served request never waits much beyond the timeout.
func (h *Hasher) maxWaiting() int64 {
	slots := int64(cap(h.slots))
	per := max(h.recent.Load(), 1)
	return max(slots, slots*int64(h.timeout)/per)
}

// Admit reserves a place among the operations that can be served within the
// queue timeout (those hashing plus those queued), or returns
// auth.ErrOverloaded at once. Without it a flood queues on the database pool
// before it ever reaches the hashing queue, and the requests that are served
// wait for seconds. The reservation ends when the first hash made with the
// returned context is done, or at release, whichever comes first: the work
// after the hash (the session, the answer) needs no hashing slot, and
// counting it would shrink the queue below the concurrency it can serve.
func (h *Hasher) Admit(ctx context.Context) (context.Context, func(), error) {
	if h.admitted.Add(1) > int64(cap(h.slots))+h.maxWaiting() {
		h.admitted.Add(-1)
		h.timeouts.Inc()
		return ctx, nil, auth.ErrOverloaded
	}
	r := &reservation{h: h}
	return context.WithValue(ctx, reservationKey{}, r), r.release, nil
}

// reservation is one Admit place, given back once.
type reservation struct {
	h    *Hasher
	once sync.Once
}

type reservationKey struct{}

func (r *reservation) release() { r.once.Do(func() { r.h.admitted.Add(-1) }) }

// hashed ends the reservation ctx carries, if any: its hash is done.
func hashed(ctx context.Context) {
	if r, ok := ctx.Value(reservationKey{}).(*reservation); ok {
		r.release()
	}
}

// acquire waits for a hashing slot, at most backstop queue timeouts. Waiting
// goroutines hold no hashing memory, and the queue is bounded, so a flood of
// logins cannot grow memory without bound; a caller that could not be served
// within the timeout anyway is turned away at once rather than after it.
func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	release := func() { <-h.slots }
	select {
	case h.slots <- struct{}{}:
		h.wait.Observe(0)
		return release, nil
	default:
	}
	if h.waiting.Add(1) > h.maxWaiting() {
		h.waiting.Add(-1)
		h.timeouts.Inc()
		return nil, auth.ErrOverloaded
	}
	defer h.waiting.Add(-1)
	start := time.Now()
	timer := time.NewTimer(time.Duration(backstop * float64(h.timeout)))
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		h.wait.Observe(time.Since(start).Seconds())
		return release, nil
	case <-timer.C:
		h.wait.Observe(time.Since(start).Seconds())
		h.timeouts.Inc()
		return nil, auth.ErrOverloaded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
