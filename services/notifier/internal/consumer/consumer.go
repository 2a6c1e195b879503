// Package consumer runs the notifier's JetStream pull consumers: fetch a
// batch, decode each message, run the handler with bounded concurrency, then
// acknowledge, retry later (nak with a backoff delay) or move the message to
// the dead-letter stream. A record in a key-value bucket makes redeliveries
// idempotent; see docs/notifier.md for the guarantees.
package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

// Names of the notifier's own JetStream resources.
const (
	// DLQStream holds dead letters on subjects dlq.<consumer>.<original subject>.
	DLQStream        = "USERS_DLQ"
	DLQSubjectPrefix = "dlq."
	// SentBucket records what was done per consumer and event id.
	SentBucket = "notifier_sent"
	// SentTTL is how long a record is kept. It must exceed the stream's
	// duplicate window (a republish inside it is dropped by JetStream, one
	// after it is caught here) and any redelivery delay.
	SentTTL = 24 * time.Hour
	// DLQMaxAge keeps dead letters long enough for someone to look at them.
	DLQMaxAge = 30 * 24 * time.Hour
)

// Ensure creates or updates the USERS stream, the dead-letter stream and the
// idempotency bucket, and returns the bucket.
func Ensure(ctx context.Context, js jetstream.JetStream, replicas int, maxAge time.Duration) (jetstream.KeyValue, error) {
	if err := natsx.CheckVersion(js.Conn(), natsx.MinServerVersion); err != nil {
		return nil, err
	}
	if replicas < 1 {
		replicas = 1
	}
	if _, err := events.EnsureStream(ctx, js, replicas, maxAge); err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "Kairos notifier dead letters (notifier dlq list|replay)",
		Subjects:    []string{DLQSubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      DLQMaxAge,
		Duplicates:  events.DuplicateWindow,
	}); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", DLQStream, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      SentBucket,
		Description: "Kairos notifier: events already handled, by consumer",
		TTL:         SentTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", SentBucket, err)
	}
	return kv, nil
}

// Config is one durable consumer's settings.
type Config struct {
	Name string // durable name: email or agent
	// Subjects are the subjects the handler takes. The durable filters on
	// one subject, their common prefix when there are several (nats-server
	// 2.9 has no multiple filter subjects), and acknowledges the messages
	// on other subjects without handling them.
	Subjects []string
	Replicas int // of the USERS stream, if it must be recreated
	// EventRetention is the USERS stream's max age, if it must be recreated.
	EventRetention time.Duration
	// Concurrency bounds the messages handled at once by this process.
	Concurrency int
	// MaxAckPending bounds unacknowledged messages across every replica.
	MaxAckPending int
	// MaxDeliver is the number of attempts before a retryable failure is
	// dead-lettered.
	MaxDeliver int
	// RetryBase and RetryMax shape the backoff: RetryBase doubling per
	// attempt, capped at RetryMax, with ±20 % jitter.
	RetryBase, RetryMax time.Duration
	// AckWait is how long JetStream waits for an ack before redelivering;
	// slow handlers extend it with in-progress acks every AckWait/3.
	AckWait time.Duration
	// FetchWait is how long one pull request waits for messages.
	FetchWait time.Duration
	// StatsInterval is how often consumer info is read for the gauges.
	StatsInterval time.Duration
}

func (c *Config) defaults() {
	if c.Concurrency < 1 {
		c.Concurrency = 1
	}
	if c.MaxAckPending < c.Concurrency {
		c.MaxAckPending = c.Concurrency
	}
	if c.MaxDeliver < 1 {
		c.MaxDeliver = 30
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 2 * time.Second
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(c.RetryBase, 5*time.Minute)
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.FetchWait <= 0 {
		c.FetchWait = time.Second
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = 15 * time.Second
	}
}

// Consumer is one durable pull consumer and its worker pool.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	handler notify.Handler
	log     *slog.Logger
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	metrics *Metrics
	bound   atomic.Bool
}

// New returns a consumer; Run binds it and consumes.
func New(cfg Config, js jetstream.JetStream, kv jetstream.KeyValue, h notify.Handler, log *slog.Logger,
	tp trace.TracerProvider, prop propagation.TextMapPropagator, m *Metrics) *Consumer {
	cfg.defaults()
	return &Consumer{cfg: cfg, js: js, kv: kv, handler: h, log: log.With("consumer", cfg.Name),
		tracer: tp.Tracer("github.com/kairos-platform/identity/services/notifier/internal/consumer"),
		prop:   prop, metrics: m}
}

// Bound reports whether the durable consumer exists and is being fetched from.
func (c *Consumer) Bound() bool { return c.bound.Load() }

// Run consumes until ctx ends: then it stops fetching, waits for the
// messages in flight, and returns nil. Handlers run with work, which the
// caller cancels when the shutdown grace period is over; a message whose
// handler is cut short is handed back (nak) for another replica.
func (c *Consumer) Run(ctx, work context.Context) error {
	cons, err := c.bind(ctx)
	if err != nil {
		return nil // ctx ended before NATS answered
	}
	statsDone := make(chan struct{})
	go func() { defer close(statsDone); c.pollStats(ctx) }()

	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	failures := 0
	for ctx.Err() == nil {
		// Wait for a free worker, then ask for as many messages as there
		// are free workers: only this loop takes slots, so they stay free.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		n := cap(sem) - len(sem) + 1
		<-sem
		if ctx.Err() != nil {
			break // select picks at random when both are ready
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(c.cfg.FetchWait))
		if err == nil {
			for msg := range batch.Messages() {
				sem <- struct{}{}
				if ctx.Err() != nil {
					// Shutting down: give it straight back to another replica.
					_ = msg.Nak()
					<-sem
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					c.process(work, msg)
				}()
			}
			err = batch.Error()
		}
		if err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			failures = 0
			continue
		}
		failures++
		c.log.Debug("fetch failed", "error", err, "failures", failures)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
			errors.Is(err, nats.ErrNoResponders) || failures%10 == 0 {
			// The consumer may be gone (e.g. a NATS store lost): bind again.
			c.bound.Store(false)
			if cons, err = c.bind(ctx); err != nil {
				break
			}
		}
		_ = natsx.Sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, 2*time.Second))
	}
	c.bound.Store(false)
	wg.Wait()
	<-statsDone
	return nil
}

// bind creates or updates the stream and the durable consumer, retrying
// until it succeeds or ctx ends (NATS may be down at start).
func (c *Consumer) bind(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := natsx.Retry(ctx, c.log, "bind consumer", c.ensureConsumer)
	if err != nil {
		return nil, err
	}
	c.bound.Store(true)
	c.log.Info("consumer bound", "subjects", c.cfg.Subjects, "filter", FilterSubject(c.cfg.Subjects),
		"concurrency", c.cfg.Concurrency, "max_ack_pending", c.cfg.MaxAckPending)
	return cons, nil
}

func (c *Consumer) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	if err := natsx.CheckVersion(c.js.Conn(), natsx.MinServerVersion); err != nil {
		return nil, err
	}
	// After a NATS store loss the stream may be gone too; recreate it with
	// the configured replicas (never update an existing one from here).
	if _, err := c.js.Stream(ctx, events.StreamName); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := events.EnsureStream(ctx, c.js, c.cfg.Replicas, c.cfg.EventRetention); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       c.cfg.Name,
		Description:   "Kairos notifier " + c.cfg.Name + " consumer",
		FilterSubject: FilterSubject(c.cfg.Subjects),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		// Unlimited: the notifier counts attempts itself and dead-letters
		// at MaxDeliver, so a message never silently stops being delivered.
		MaxDeliver:    -1,
		MaxAckPending: c.cfg.MaxAckPending,
	}
	if err := c.keepPosition(ctx, &cfg); err != nil {
		return nil, err
	}
	return c.js.CreateOrUpdateConsumer(ctx, events.StreamName, cfg)
}

// keepPosition carries an existing durable's position into cfg. When its
// filter differs (a notifier that took fewer subjects), the durable is
// recreated from its ack floor instead of updated: nats-server 2.9 accepts
// the new filter but then delivers nothing. Messages after the floor that
// were already acknowledged come again and are caught by the sent records.
func (c *Consumer) keepPosition(ctx context.Context, cfg *jetstream.ConsumerConfig) error {
	old, err := c.js.Consumer(ctx, events.StreamName, c.cfg.Name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	info := old.CachedInfo()
	if info.Config.FilterSubject == cfg.FilterSubject {
		// The deliver policy cannot be updated: keep the one it was made with.
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = info.Config.DeliverPolicy, info.Config.OptStartSeq, info.Config.OptStartTime
		return nil
	}
	if err := c.js.DeleteConsumer(ctx, events.StreamName, c.cfg.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	if floor := info.AckFloor.Stream; floor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
	}
	c.log.Info("consumer filter changed; recreated from its ack floor", "from", info.Config.FilterSubject,
		"to", cfg.FilterSubject, "start_seq", info.AckFloor.Stream+1)
	return nil
}

// pollStats refreshes the consumer gauges until ctx ends.
func (c *Consumer) pollStats(ctx context.Context) {
	t := time.NewTicker(c.cfg.StatsInterval)
	defer t.Stop()
	for {
		c.readStats(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (c *Consumer) readStats(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, events.StreamName, c.cfg.Name)
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			c.bound.Store(false)
		}
		return
	}
	info := cons.CachedInfo()
	c.metrics.pending.WithLabelValues(c.cfg.Name).Set(float64(info.NumPending))
	c.metrics.ackPending.WithLabelValues(c.cfg.Name).Set(float64(info.NumAckPending))
	c.metrics.redelivered.WithLabelValues(c.cfg.Name).Set(float64(info.NumRedelivered))
}

// process handles one message and records its result.
func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	subject := msg.Subject()
	label := subject
	if !slices.Contains(c.cfg.Subjects, subject) {
		label = subjectUnknown
	}
	ctx = c.prop.Extract(ctx, natsx.HeaderCarrier(msg.Headers()))
	ctx, span := c.tracer.Start(ctx, "process "+subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.consumer.group.name", c.cfg.Name),
			attribute.String("messaging.message.id", msg.Headers().Get(jetstream.MsgIDHeader)),
		))
	defer span.End()

	result, err := c.handle(ctx, msg)
	span.SetAttributes(attribute.String("kairos.result", result))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, result)
	}
	c.metrics.messages.WithLabelValues(c.cfg.Name, label, result).Inc()
}

// HeaderReplayFor marks a message republished from the dead-letter stream
// for one consumer; the other consumers skip it, since they have already
// handled the original.
const HeaderReplayFor = "Kairos-Replay-For"

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) (string, error) {
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream message: nothing to ack or retry.
		c.log.ErrorContext(ctx, "message without JetStream metadata", "subject", msg.Subject())
		return ResultDeadLetter, err
	}
	attempt := int(meta.NumDelivered)
	if !slices.Contains(c.cfg.Subjects, msg.Subject()) {
		// Inside the filter but not this consumer's (see Config.Subjects).
		c.ack(ctx, msg)
		return ResultIgnored, nil
	}
	if to := msg.Headers().Get(HeaderReplayFor); to != "" && to != c.cfg.Name {
		c.ack(ctx, msg)
		return ResultDuplicateSkipped, nil
	}
	ev, err := events.Decode(msg.Data())
	if err != nil {
		return c.deadLetter(ctx, msg, meta, ReasonUndecodable, err)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("event.id", ev.ID), attribute.String("user.uid", ev.User.UID))
	// The event's log attributes, built only for the lines written (not
	// for each message of a backlog).
	about := func() []any { return []any{"event_id", ev.ID, "subject", ev.Type, "attempt", attempt} }

	key := idempotencyKey(c.cfg.Name, ev.ID)
	if _, err := c.kv.Get(ctx, key); err == nil {
		c.ack(ctx, msg)
		c.log.InfoContext(ctx, "already handled; skipped", about()...)
		return ResultDuplicateSkipped, nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return c.retry(ctx, msg, attempt, fmt.Errorf("idempotency check: %w", err))
	}
	if attempt > c.cfg.MaxDeliver {
		// Earlier deliveries ended without a result (crashes, lost acks).
		return c.deadLetter(ctx, msg, meta, ReasonMaxDeliver, fmt.Errorf("delivered %d times without a result", attempt))
	}

	stop := c.keepAlive(msg)
	err = c.handler.Handle(ctx, ev)
	stop()
	switch {
	case err == nil:
		if perr := c.markDone(ctx, key); perr != nil {
			c.log.WarnContext(ctx, "handled, but could not record it; a redelivery would repeat it", append(about(), "error", perr)...)
		}
		c.ack(ctx, msg)
		if c.log.Enabled(ctx, slog.LevelDebug) {
			c.log.DebugContext(ctx, "handled", about()...)
		}
		return ResultOK, nil
	case errors.Is(err, notify.ErrPermanent):
		return c.deadLetter(ctx, msg, meta, ReasonPermanent, err)
	case ctx.Err() != nil:
		// Shutdown grace period over: hand it back at once.
		_ = msg.Nak()
		return ResultRetry, err
	case attempt >= c.cfg.MaxDeliver:
		return c.deadLetter(ctx, msg, meta, ReasonMaxDeliver, err)
	default:
		return c.retry(ctx, msg, attempt, err)
	}
}

func (c *Consumer) retry(ctx context.Context, msg jetstream.Msg, attempt int, cause error) (string, error) {
	delay := c.Backoff(attempt)
	if err := msg.NakWithDelay(delay); err != nil {
		c.log.WarnContext(ctx, "nak failed; JetStream redelivers after the ack wait", "error", err)
	}
	c.log.WarnContext(ctx, "will retry", "subject", msg.Subject(), "attempt", attempt, "delay", delay.String(), "error", cause)
	return ResultRetry, cause
}

// Backoff is the delay before attempt+1: RetryBase·2^(attempt-1), capped at
// RetryMax, with ±20 % jitter so retries of one outage spread out.
func (c *Consumer) Backoff(attempt int) time.Duration {
	return natsx.Backoff(max(attempt, 1)-1, c.cfg.RetryBase, c.cfg.RetryMax)
}

// FilterSubject is the one filter subject that covers subjects: the subject
// itself, or the tokens they share followed by ">" (">" when none).
func FilterSubject(subjects []string) string {
	if len(subjects) == 1 {
		return subjects[0]
	}
	var common []string
	for i, s := range subjects {
		tokens := strings.Split(s, ".")
		if i == 0 {
			common = tokens[:len(tokens)-1] // ">" needs at least one more token
			continue
		}
		n := 0
		for n < len(common) && n < len(tokens)-1 && common[n] == tokens[n] {
			n++
		}
		common = common[:n]
	}
	return strings.Join(append(common, ">"), ".")
}

// keepAlive sends in-progress acks while a slow handler runs, so JetStream
// does not redeliver a message that is still being worked on.
func (c *Consumer) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(c.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

func (c *Consumer) markDone(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := c.kv.Put(ctx, key, []byte(time.Now().UTC().Format(time.RFC3339)))
	return err
}

// ack acknowledges without waiting for the server's confirmation: the
// worker is free for the next message a round trip sooner. An ack lost on
// the way means a redelivery after AckWait, which the bucket catches (the
// record is written before the ack), so nothing is lost or repeated.
func (c *Consumer) ack(ctx context.Context, msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		c.log.WarnContext(ctx, "ack failed; the message will be redelivered", "subject", msg.Subject(), "error", err)
	}
}

var keySafe = regexp.MustCompile(`^[-_=A-Za-z0-9]+$`)

// idempotencyKey is <consumer>.<event id>; ids that are not valid key
// tokens (they are UUIDs in practice) are hashed.
func idempotencyKey(consumer, id string) string {
	if !keySafe.MatchString(id) || len(id) > 128 {
		sum := sha256.Sum256([]byte(id))
		id = "h-" + hex.EncodeToString(sum[:])
	}
	return consumer + "." + id
}
