package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
)

// BenchmarkRelayDrain measures how fast one relay empties a backlog: b.N rows
// are written first, then the relay starts and the clock runs until every
// row is acknowledged and marked sent. Reported as events/s.
func BenchmarkRelayDrain(b *testing.B) {
	store := newStore(b)
	js := natstest.Connect(b, natstest.New(b).URL())
	ctx := context.Background()
	for range b.N {
		if err := writeEvent(ctx, store, newEvent(events.UserCreated)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- outbox.NewRelay(store, js, outbox.Options{}).Run(rctx) }()
	for {
		st, err := store.OutboxStats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Pending == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cancel()
	<-done
}

// BenchmarkRelayLatency measures one event from the committed INSERT to its
// arrival at a NATS subscriber (the LISTEN/NOTIFY wake-up path).
func BenchmarkRelayLatency(b *testing.B) {
	store := newStore(b)
	srv := natstest.New(b)
	js := natstest.Connect(b, srv.URL())
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	got := make(chan struct{}, 1)
	if _, err := nc.Subscribe(events.StreamSubjects, func(*nats.Msg) { got <- struct{}{} }); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- outbox.NewRelay(store, js, outbox.Options{}).Run(ctx) }()
	// Warm up: the stream exists and the relay listens.
	if err := writeEvent(ctx, store, newEvent(events.UserCreated)); err != nil {
		b.Fatal(err)
	}
	<-got
	b.ResetTimer()
	for range b.N {
		if err := writeEvent(ctx, store, newEvent(events.UserCreated)); err != nil {
			b.Fatal(err)
		}
		<-got
	}
	b.StopTimer()
	cancel()
	<-done
}
