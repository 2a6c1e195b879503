// Package outbox is the relay from auth-api's outbox table to NATS JetStream.
//
// Rows are written by the domain in the same transaction as the change they
// announce. The relay claims due rows in batches (FOR UPDATE SKIP LOCKED with
// a lease, so any number of replicas share the table), publishes a batch with
// async publishes and the event id as Nats-Msg-Id, and marks the acknowledged
// rows sent in one statement. A row is only marked sent after JetStream's
// ack, so delivery to the stream is at-least-once; a double publish (a lease
// that ran out, two replicas, a crash between ack and UPDATE) is absorbed by
// the stream's duplicate window.
//
// Order: rows are published in the order they were written within a batch
// and batches follow each other, but a row that fails is retried later and
// replicas interleave, so consumers must not rely on order across events.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natsx"
)

// Row is one outbox row as the relay sees it.
type Row struct {
	ID        string
	Subject   string
	Payload   []byte            // the event JSON; holds an email and a link with a token: never log it
	Headers   map[string]string // W3C trace context of the request that wrote the row
	Attempts  int               // failed publishes so far
	CreatedAt time.Time
}

// Failure is a publish that did not get an ack.
type Failure struct {
	ID      string
	Error   string        // recorded in last_error; never contains the payload
	RetryIn time.Duration // backoff before the row is due again
}

// Stats describes the rows not yet published.
type Stats struct {
	Pending int64
	Oldest  time.Time // zero when nothing is pending
}

// Store is the outbox table; *postgres.Store implements it.
type Store interface {
	// ClaimOutbox leases up to limit due rows for lease, oldest first.
	ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]Row, error)
	// MarkOutboxSent records acknowledged rows.
	MarkOutboxSent(ctx context.Context, ids []string) error
	// FailOutbox counts an attempt, records the error and reschedules each row.
	FailOutbox(ctx context.Context, failures []Failure) error
	// ReleaseOutbox makes claimed, unpublished rows due now (on shutdown).
	ReleaseOutbox(ctx context.Context, ids []string) error
	// OutboxStats counts pending rows and finds the oldest.
	OutboxStats(ctx context.Context) (Stats, error)
	// DeleteSentOutbox deletes up to limit rows sent before the cutoff.
	DeleteSentOutbox(ctx context.Context, before time.Time, limit int) (int, error)
	// ListenOutbox calls wake whenever rows may have been committed, until
	// ctx ends (nil) or its connection fails (an error).
	ListenOutbox(ctx context.Context, wake func()) error
}

// Options configures a Relay. Zero values get the defaults below.
type Options struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	Registerer     prometheus.Registerer // nil: metrics are not exported
	StreamReplicas int
	Retention      time.Duration // how long sent rows are kept; default 168h
	// EventRetention is the USERS stream's max age (events.MaxAge when 0).
	EventRetention time.Duration
}

// Tuning. A batch of 256 async publishes and one UPDATE per batch carries
// thousands of events a second; the lease is far longer than a batch can
// take (publishTimeout), so a live relay never loses its claim.
const (
	DefaultRetention = 168 * time.Hour

	batchSize      = 256
	lease          = 30 * time.Second
	publishTimeout = 5 * time.Second
	pollInterval   = time.Second // fallback when a NOTIFY is missed
	statsInterval  = 2 * time.Second
	minBackoff     = 500 * time.Millisecond
	maxBackoff     = 30 * time.Second
	deleteChunk    = 5000
	storeTimeout   = 5 * time.Second
	maxErrorLen    = 500
)

var errStopped = errors.New("relay stopping")

// Relay publishes outbox rows to JetStream.
type Relay struct {
	store     Store
	js        jetstream.JetStream
	log       *slog.Logger
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	replicas  int
	maxAge    time.Duration
	retention time.Duration
	wake      chan struct{}

	// oldestNanos is the creation time of the oldest pending row in Unix
	// nanoseconds, 0 when none; read at scrape time so the age keeps growing
	// between refreshes when the relay is stuck.
	oldestNanos atomic.Int64
	pending     prometheus.Gauge
	oldestAge   prometheus.GaugeFunc
	published   *prometheus.CounterVec
	failures    prometheus.Counter
}

// NewRelay builds a relay; Run starts it.
func NewRelay(store Store, js jetstream.JetStream, opts Options) *Relay {
	r := &Relay{
		store:     store,
		js:        js,
		log:       opts.Logger,
		replicas:  opts.StreamReplicas,
		maxAge:    opts.EventRetention,
		retention: opts.Retention,
		// The wire format is fixed by the event contract: lower-case W3C
		// headers, whatever global propagator the process configured.
		prop: propagation.TraceContext{},
		wake: make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "outbox")
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	r.tracer = tp.Tracer("github.com/kairos-platform/identity/services/auth-api/internal/outbox")
	if r.retention <= 0 {
		r.retention = DefaultRetention
	}

	r.pending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kairos_outbox_pending", Help: "Outbox rows not yet published to JetStream.",
	})
	r.oldestAge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kairos_outbox_oldest_pending_age_seconds", Help: "Age of the oldest outbox row not yet published (0 when none).",
	}, func() float64 {
		n := r.oldestNanos.Load()
		if n == 0 {
			return 0
		}
		return max(0, time.Since(time.Unix(0, n)).Seconds())
	})
	r.published = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_outbox_published_total", Help: "Outbox events acknowledged by JetStream, by subject.",
	}, []string{"subject"})
	for _, s := range append([]string{events.SessionRevoked}, events.Types...) {
		r.published.WithLabelValues(s)
	}
	r.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_outbox_publish_failures_total", Help: "Outbox publishes that got no ack (the row is retried with backoff).",
	})
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.pending, r.oldestAge, r.published, r.failures} {
			if err := opts.Registerer.Register(c); err != nil {
				r.log.Error("outbox metric not registered", "err", err)
			}
		}
	}
	return r
}

// Run relays until ctx is cancelled, then returns nil once every claimed row
// is either marked sent (acknowledged) or released for the next relay.
// Failures of PostgreSQL or NATS are retried, never returned.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx) })
	wg.Go(func() { r.housekeep(ctx) })
	r.loop(ctx)
	wg.Wait()
	return nil
}

func (r *Relay) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop claims and publishes batches while rows are due, and otherwise waits
// for a NOTIFY or the fallback poll.
func (r *Relay) loop(ctx context.Context) {
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var streamReady, natsDown, storeDown bool
	for ctx.Err() == nil {
		n, err := 0, error(nil)
		switch {
		case !r.js.Conn().IsConnected():
			// Claiming now would only burn attempts and back rows off; they
			// wait untouched (signups keep working) and go out on reconnect.
			if !natsDown {
				r.log.Warn("NATS is not connected; outbox rows wait until it is back")
				natsDown = true
			}
		case !streamReady:
			// Retries (and logs) until the stream is there or the relay stops.
			if _, err := natsx.EnsureStream(ctx, r.log, r.js, events.StreamConfig(r.replicas, r.maxAge)); err != nil {
				return
			}
			// session.revoked goes to its own stream (pkg/events).
			if _, err := natsx.EnsureStream(ctx, r.log, r.js, events.SessionStreamConfig(r.replicas)); err != nil {
				return
			}
			streamReady = true
			continue
		default:
			if natsDown {
				r.log.Info("NATS is back; publishing the outbox")
				natsDown = false
			}
			var lost bool
			n, lost, err = r.relayBatch(ctx)
			if lost {
				// The stream is gone (e.g. a wiped server); make it again.
				streamReady = false
			}
			if err != nil && ctx.Err() == nil {
				if !storeDown {
					r.log.Error("outbox relay", "err", err)
				}
				storeDown = true
			} else if err == nil {
				storeDown = false
			}
		}
		if n == batchSize && err == nil {
			continue // more rows are probably due
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-poll.C:
		}
	}
}

type publication struct {
	row  Row
	span trace.Span
	fut  jetstream.PubAckFuture
	err  error
}

// relayBatch claims one batch, publishes it and records the outcome. lost
// reports that the stream did not answer (no responders).
func (r *Relay) relayBatch(ctx context.Context) (n int, lost bool, err error) {
	// The claim does not see the stop signal: a claim cut short by it may
	// still have committed on the server, leasing rows that no relay knows
	// it holds until the lease ends. It takes milliseconds, so the stop
	// waits for it and then hands the batch straight back.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	rows, err := r.store.ClaimOutbox(cctx, batchSize, lease)
	cancel()
	if err != nil || len(rows) == 0 {
		return 0, false, err
	}
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		return len(rows), false, r.store.ReleaseOutbox(rctx, ids(rows))
	}

	pubs := r.publish(ctx, rows)

	var sent, released []string
	var failed []Failure
	for _, p := range pubs {
		switch {
		case p.err == nil:
			sent = append(sent, p.row.ID)
			r.published.WithLabelValues(p.row.Subject).Inc()
		case errors.Is(p.err, errStopped):
			released = append(released, p.row.ID)
		default:
			if errors.Is(p.err, nats.ErrNoResponders) || errors.Is(p.err, jetstream.ErrNoStreamResponse) {
				lost = true
			}
			r.failures.Inc()
			failed = append(failed, Failure{ID: p.row.ID, Error: truncate(p.err.Error()), RetryIn: natsx.Backoff(p.row.Attempts, minBackoff, maxBackoff)})
		}
	}
	if len(failed) > 0 {
		r.log.Warn("outbox publish failed; rows retried with backoff",
			"failed", len(failed), "of", len(rows), "err", failed[0].Error)
	}

	// The outcome is recorded even when ctx was just cancelled: an ack that
	// is not recorded means a second publish later (absorbed, but avoidable).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	err = errors.Join(
		r.store.MarkOutboxSent(wctx, sent),
		r.store.FailOutbox(wctx, failed),
		r.store.ReleaseOutbox(wctx, released),
	)
	return len(rows), lost, err
}

// publish sends every row asynchronously, then waits for the acks up to
// publishTimeout (or until ctx ends), one span per message.
func (r *Relay) publish(ctx context.Context, rows []Row) []publication {
	pubs := make([]publication, len(rows))
	for i, row := range rows {
		p := &pubs[i]
		p.row = row
		parent := r.prop.Extract(ctx, propagation.MapCarrier(row.Headers))
		var sctx context.Context
		sctx, p.span = r.tracer.Start(parent, "publish "+row.Subject,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				semconv.MessagingSystemKey.String("nats"),
				semconv.MessagingDestinationName(row.Subject),
				semconv.MessagingOperationName("publish"),
				semconv.MessagingOperationTypeSend,
				semconv.MessagingMessageID(row.ID),
				semconv.MessagingMessageBodySize(len(row.Payload)),
				attribute.Int("kairos.outbox.attempt", row.Attempts+1),
			))
		msg := nats.NewMsg(row.Subject)
		msg.Data = row.Payload
		r.prop.Inject(sctx, natsx.HeaderCarrier(msg.Header))
		p.fut, p.err = r.js.PublishMsgAsync(msg, jetstream.WithMsgID(row.ID))
	}

	timeout := time.NewTimer(publishTimeout)
	defer timeout.Stop()
	var expired, stopped bool
	for i := range pubs {
		p := &pubs[i]
		if p.err != nil {
			continue
		}
		if expired || stopped {
			// Take what has already arrived; give up on the rest.
			select {
			case <-p.fut.Ok():
			case err := <-p.fut.Err():
				p.err = err
			default:
				p.err = fmt.Errorf("no ack within %s", publishTimeout)
				if stopped {
					p.err = errStopped
				}
			}
			continue
		}
		select {
		case <-p.fut.Ok():
		case err := <-p.fut.Err():
			p.err = err
		case <-timeout.C:
			expired = true
			p.err = fmt.Errorf("no ack within %s", publishTimeout)
		case <-ctx.Done():
			stopped = true
			p.err = errStopped
		}
	}
	for i := range pubs {
		p := &pubs[i]
		if p.err != nil && !errors.Is(p.err, errStopped) {
			p.span.RecordError(p.err)
			p.span.SetStatus(codes.Error, "publish failed")
		}
		p.span.End()
	}
	return pubs
}

func ids(rows []Row) []string {
	out := make([]string, len(rows))
	for i, row := range rows {
		out[i] = row.ID
	}
	return out
}

func truncate(s string) string {
	if len(s) > maxErrorLen {
		return s[:maxErrorLen]
	}
	return s
}

// listen keeps a LISTEN connection open, reconnecting with backoff; while it
// is down the fallback poll carries on.
func (r *Relay) listen(ctx context.Context) {
	wait := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := r.store.ListenOutbox(ctx, r.notify)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			wait = time.Second
		}
		r.log.Warn("outbox LISTEN lost; polling until it is back", "err", err, "retry_in", wait)
		if natsx.Sleep(ctx, wait) != nil {
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// housekeep refreshes the pending gauges and deletes old sent rows.
func (r *Relay) housekeep(ctx context.Context) {
	sweepEvery := min(max(r.retention/4, time.Second), 10*time.Minute)
	stats := time.NewTicker(statsInterval)
	defer stats.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	r.refreshStats(ctx)
	r.sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			r.refreshStats(ctx)
		case <-sweep.C:
			r.sweep(ctx)
		}
	}
}

func (r *Relay) refreshStats(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	st, err := r.store.OutboxStats(sctx)
	if err != nil {
		return // the relay loop reports PostgreSQL trouble
	}
	r.pending.Set(float64(st.Pending))
	if st.Pending == 0 || st.Oldest.IsZero() {
		r.oldestNanos.Store(0)
	} else {
		r.oldestNanos.Store(st.Oldest.UnixNano())
	}
}

func (r *Relay) sweep(ctx context.Context) {
	cutoff := time.Now().Add(-r.retention)
	total := 0
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, storeTimeout)
		n, err := r.store.DeleteSentOutbox(dctx, cutoff, deleteChunk)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("outbox retention sweep", "err", err)
			}
			return
		}
		total += n
		if n < deleteChunk {
			break
		}
	}
	if total > 0 {
		r.log.Debug("outbox retention sweep", "deleted", total)
	}
}
