package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32
	Time        uint32
	Parallelism uint8
}

// The minimum the OWASP Password Storage Cheat Sheet recommends for argon2id:
// 19 MiB, 2 iterations, 1 lane. Config refuses anything weaker.
const (
	MinMemoryKiB   = 19 * 1024
	MinTime        = 2
	MinParallelism = 1
)

const (
	saltLen = 16
	keyLen  = 32
)

// HasherOptions bound the work hashing may do at once.
type HasherOptions struct {
	// Concurrency is the number of hashes computed at once. Each holds
	// Params.MemoryKiB of memory, so this bounds the memory hashing uses.
	Concurrency int
	// QueueTimeout is how long a caller waits for a slot before ErrOverloaded.
	QueueTimeout time.Duration
	Registerer   prometheus.Registerer
}

// Hasher hashes and verifies passwords with argon2id in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), at most Concurrency at a time.
type Hasher struct {
	params  Params
	slots   chan struct{}
	timeout time.Duration
	dummy   string
	// waiting counts callers queued for a slot; beyond maxWaiting() a
	// caller could not be served within the timeout, so it is turned away
	// at once. recent is a moving average of hash times in nanoseconds.
	waiting  atomic.Int64
	admitted atomic.Int64 // operations holding an Admit reservation
	recent   atomic.Int64

	duration *prometheus.HistogramVec
	wait     prometheus.Histogram
	timeouts prometheus.Counter
}

// NewHasher returns a Hasher with the given parameters. It computes one hash
// to serve as the dummy that logins for unknown emails are checked against.
func NewHasher(p Params, opts HasherOptions) (*Hasher, error) {
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
	h.dummy = h.compute(string(secret))
	h.recent.Store(int64(time.Since(start)))
	return h, nil
}

// Params returns the configured parameters.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password, waiting for a slot if needed.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	start := time.Now()
	s := h.compute(password)
	h.observe("hash", time.Since(start))
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
	p, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	start := time.Now()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Parallelism, uint32(len(want)))
	h.observe("verify", time.Since(start))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	rehash = p.MemoryKiB < h.params.MemoryKiB || p.Time < h.params.Time ||
		p.Parallelism < h.params.Parallelism || len(want) < keyLen
	return ok, rehash, nil
}

// observe records one hash's duration in the histogram and the moving
// average (weight 1/8; concurrent updates may drop one sample, which only
// delays the average a little).
func (h *Hasher) observe(op string, d time.Duration) {
	h.duration.WithLabelValues(op).Observe(d.Seconds())
	old := h.recent.Load()
	h.recent.Store(old + (int64(d)-old)/8)
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
// queue timeout (those hashing plus those queued), for the caller's whole
// operation, or returns ErrOverloaded at once. Without it a flood queues on
// the database pool before it ever reaches the hashing queue, and the
// requests that are served wait for seconds.
func (h *Hasher) Admit() (release func(), err error) {
	if h.admitted.Add(1) > int64(cap(h.slots))+h.maxWaiting() {
		h.admitted.Add(-1)
		h.timeouts.Inc()
		return nil, ErrOverloaded
	}
	return func() { h.admitted.Add(-1) }, nil
}

// acquire waits for a hashing slot at most the queue timeout. Waiting
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
		return nil, ErrOverloaded
	}
	defer h.waiting.Add(-1)
	start := time.Now()
	timer := time.NewTimer(h.timeout)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		h.wait.Observe(time.Since(start).Seconds())
		return release, nil
	case <-timer.C:
		h.wait.Observe(time.Since(start).Seconds())
		h.timeouts.Inc()
		return nil, ErrOverloaded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *Hasher) compute(password string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.MemoryKiB, h.params.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.MemoryKiB, h.params.Time, h.params.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

func decodePHC(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errBadHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Parallelism); err != nil ||
		p.MemoryKiB == 0 || p.Time == 0 || p.Parallelism == 0 {
		return Params{}, nil, nil, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return Params{}, nil, nil, errBadHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return Params{}, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
