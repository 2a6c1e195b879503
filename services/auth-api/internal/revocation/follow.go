package revocation

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/events"
)

// Follower feeds a List from the SESSIONS stream. Every replica runs its own
// ordered (ephemeral, unacknowledged) consumer starting one hold ago, so a
// fresh replica replays exactly the revocations that can still matter.
type Follower struct {
	JS   jetstream.JetStream
	List *List
	Log  *slog.Logger
	Now  func() time.Time
	// Poll is how long one fetch waits for new events; each empty fetch
	// that ends cleanly is a heartbeat proving the list current. Keep it
	// well under the staleness limit (default 1s).
	Poll time.Duration
	// Replicas is used only if the follower has to create the stream.
	Replicas int
	// Retry is the pause after NATS or the stream is unavailable (default 1s).
	Retry time.Duration
}

// Run follows the stream until ctx ends. It calls List.Heard only when it
// knows it has seen everything the stream held when the fetch began: so
// after the replay, and thereafter at least once per Poll while NATS answers.
func (f *Follower) Run(ctx context.Context) error {
	poll, retry := f.Poll, f.Retry
	if poll <= 0 {
		poll = time.Second
	}
	if retry <= 0 {
		retry = time.Second
	}
	var (
		cons jetstream.Consumer
		next uint64 // stream sequence to resume from; 0 until the first event
	)
	for ctx.Err() == nil {
		if cons == nil {
			var err error
			// Bounded: a request sent while reconnecting may never be
			// answered, and JetStream's default wait is five seconds.
			cctx, cancel := context.WithTimeout(ctx, poll)
			cons, err = f.consumer(cctx, next)
			cancel()
			if err != nil {
				f.Log.Warn("revocation feed unavailable", "err", err)
				sleep(ctx, retry)
				continue
			}
		}
		if err := f.fetch(cons, poll, &next); err != nil && ctx.Err() == nil {
			// A fresh consumer from where we stopped recovers at once after
			// an outage; the ordered consumer's own reset can take seconds.
			f.Log.Warn("revocation feed fetch failed", "err", err)
			cons = nil
			sleep(ctx, retry)
		}
	}
	return nil
}

func (f *Follower) consumer(ctx context.Context, next uint64) (jetstream.Consumer, error) {
	// Bind to the stream as configured (the relay ensures it with the
	// cluster's replica count); create it only when nobody has yet.
	s, err := f.JS.Stream(ctx, events.SessionStreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = events.EnsureSessionStream(ctx, f.JS, f.Replicas)
	}
	if err != nil {
		return nil, err
	}
	if next > 0 {
		return s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   next,
		})
	}
	start := f.Now().Add(-f.List.hold)
	return s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &start,
	})
}

// fetch applies one batch; it reports the list current as of the fetch's
// start when the batch ended cleanly with nothing left pending.
func (f *Follower) fetch(cons jetstream.Consumer, poll time.Duration, next *uint64) error {
	asked := f.Now()
	if f.JS.Conn().Status() != nats.CONNECTED {
		return nats.ErrConnectionClosed
	}
	batch, err := cons.Fetch(256, jetstream.FetchMaxWait(poll), jetstream.FetchHeartbeat(poll/4))
	if err != nil {
		return err
	}
	caughtUp := true
	for msg := range batch.Messages() {
		if md, err := msg.Metadata(); err == nil {
			caughtUp = md.NumPending == 0
			*next = md.Sequence.Stream + 1
		}
		r, err := events.DecodeRevocation(msg.Data())
		if err != nil {
			// Nothing in a payload we cannot read can be honoured; say so
			// loudly instead of stalling the feed for every replica.
			f.Log.Error("revocation event dropped", "subject", msg.Subject(), "err", err)
			continue
		}
		f.List.Apply(r, f.Now())
	}
	if err := batch.Error(); err != nil {
		return err
	}
	if caughtUp && f.JS.Conn().Status() == nats.CONNECTED {
		f.List.Heard(asked)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
