package outbox_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

func TestMain(m *testing.M) {
	// What auth-api's run does once: outbox rows store W3C trace context.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

// waitTimeout bounds every wait; the conditions normally hold in milliseconds.
const waitTimeout = 30 * time.Second

func newStore(t testing.TB) *postgres.Store { return postgres.New(migrationstest.NewPool(t)) }

// startRelay runs a relay until the test ends and checks that it stops
// cleanly when its context is cancelled.
func startRelay(t *testing.T, store outbox.Store, js jetstream.JetStream, opts outbox.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	r := outbox.NewRelay(store, js, opts)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v after cancel, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("relay did not stop")
		}
	})
}

func newEvent(typ string) events.Event {
	exp := time.Now().Add(24 * time.Hour).UTC()
	ev := events.Event{
		ID: uuid.NewString(), Type: typ, Version: events.Version, OccurredAt: time.Now().UTC(),
		User: events.User{UID: uuid.NewString(), Username: "ada", Email: "ada@example.com"},
	}
	if typ != events.SignupDuplicate {
		ev.VerifyURL, ev.VerifyExpiresAt = "http://localhost:8080/api/verify/secret-token/", &exp
	}
	// The link fields of the other types; harmless where not needed.
	ev.ResetURL, ev.ConfirmURL, ev.NewEmail = "http://localhost:8080/reset-password?token=t", "http://localhost:8080/api/email/confirm/t/", "new@example.com"
	return ev
}

func enqueue(t *testing.T, ctx context.Context, s *postgres.Store, n int) map[string]events.Event {
	t.Helper()
	evs := map[string]events.Event{}
	for i := range n {
		ev := newEvent(events.Types[i%len(events.Types)])
		if err := writeEvent(ctx, s, ev); err != nil {
			t.Fatal(err)
		}
		evs[ev.ID] = ev
	}
	return evs
}

func waitAllSent(t *testing.T, s *postgres.Store) {
	t.Helper()
	testkit.Eventually(t, "no pending outbox rows", func() bool {
		st, err := s.OutboxStats(context.Background())
		return err == nil && st.Pending == 0
	})
}

// checkOnce asserts every event is on the stream exactly once, with its id as
// Nats-Msg-Id, its subject and its payload.
func checkOnce(t *testing.T, msgs []*jetstream.RawStreamMsg, want map[string]events.Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		ev, ok := want[id]
		if !ok {
			t.Fatalf("unexpected message with Msg-Id %q", id)
		}
		if seen[id] {
			t.Fatalf("event %s published twice", id)
		}
		seen[id] = true
		got, err := events.Decode(m.Data)
		if err != nil {
			t.Fatalf("decode %s: %v", id, err)
		}
		if m.Subject != ev.Subject() || got.ID != id || got.User.UID != ev.User.UID {
			t.Fatalf("message %s = %s %+v, want %s %+v", id, m.Subject, got, ev.Subject(), ev)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d distinct events on the stream, want %d", len(seen), len(want))
	}
}

func TestRelayPublishesCommittedRowsOnce(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	js := natstest.Connect(t, natstest.New(t).URL())
	reg := prometheus.NewRegistry()
	startRelay(t, store, js, outbox.Options{Registerer: reg})

	want := enqueue(t, context.Background(), store, 30)
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, 30), want)
	waitAllSent(t, store)

	// Every known subject was pre-created and counts what went out.
	for _, subj := range events.Types {
		n := 0
		for _, ev := range want {
			if ev.Type == subj {
				n++
			}
		}
		if got := counterValue(t, reg, "kairos_outbox_published_total", subj); got != float64(n) {
			t.Errorf("published{subject=%s} = %v, want %d", subj, got, n)
		}
	}
	testkit.Eventually(t, "pending gauge at 0", func() bool {
		return gaugeValue(t, reg, "kairos_outbox_pending") == 0 &&
			gaugeValue(t, reg, "kairos_outbox_oldest_pending_age_seconds") == 0
	})
}

func TestRelayWaitsForNATSAndCatchesUp(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	srv := natstest.New(t)
	js := natstest.Connect(t, srv.URL())
	reg := prometheus.NewRegistry()
	startRelay(t, store, js, outbox.Options{Registerer: reg})

	first := enqueue(t, context.Background(), store, 1)
	natstest.StreamMsgs(t, js, events.StreamName, 1)

	// NATS goes away; events keep being written (signups keep working).
	srv.Stop()
	want := enqueue(t, context.Background(), store, 40)
	testkit.Eventually(t, "pending gauge to see the backlog", func() bool {
		return gaugeValue(t, reg, "kairos_outbox_pending") == 40 &&
			gaugeValue(t, reg, "kairos_outbox_oldest_pending_age_seconds") > 0
	})
	st, err := store.OutboxStats(context.Background())
	if err != nil || st.Pending != 40 {
		t.Fatalf("pending while NATS is down = %d, %v; want 40", st.Pending, err)
	}

	srv.Start()
	for id, ev := range first {
		want[id] = ev
	}
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, 41), want)
	waitAllSent(t, store)
}

func TestRelayRetriesFailedPublishes(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	js := natstest.Connect(t, natstest.New(t).URL())
	reg := prometheus.NewRegistry()
	startRelay(t, store, js, outbox.Options{Registerer: reg})
	ctx := context.Background()

	enqueue(t, ctx, store, 1)
	natstest.StreamMsgs(t, js, events.StreamName, 1)

	// With the stream gone, publishes fail (no responders): the rows are
	// retried with backoff and the relay makes the stream again.
	if err := js.DeleteStream(ctx, events.StreamName); err != nil {
		t.Fatal(err)
	}
	want := enqueue(t, ctx, store, 5)
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, 5), want)
	waitAllSent(t, store)
	if got := counterValue(t, reg, "kairos_outbox_publish_failures_total", ""); got < 1 {
		t.Errorf("publish failures = %v, want at least 1", got)
	}
}

func TestTwoRelaysShareOneTable(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	srv := natstest.New(t)
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	for _, reg := range regs {
		// Each replica has its own NATS connection, as separate pods would.
		startRelay(t, store, natstest.Connect(t, srv.URL()), outbox.Options{Registerer: reg})
	}
	js := natstest.Connect(t, srv.URL())

	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string]events.Event{}
	for range 4 {
		wg.Go(func() {
			evs := enqueue(t, context.Background(), store, 50)
			mu.Lock()
			defer mu.Unlock()
			for id, ev := range evs {
				want[id] = ev
			}
		})
	}
	wg.Wait()
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, 200), want)
	waitAllSent(t, store)

	total := 0.0
	for _, reg := range regs {
		for _, subj := range events.Types {
			total += counterValue(t, reg, "kairos_outbox_published_total", subj)
		}
	}
	// More than 200 would be double publishes the stream absorbed; with
	// SKIP LOCKED there are none in the normal case.
	if total != 200 {
		t.Errorf("relays published %v in total, want 200", total)
	}
}

func TestRelayCarriesTraceContext(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	js := natstest.Connect(t, natstest.New(t).URL())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	startRelay(t, store, js, outbox.Options{TracerProvider: tp})

	// The signup request's span, as otelhttp would have started it.
	ctx, signup := tp.Tracer("test").Start(context.Background(), "POST /api/signup/")
	want := enqueue(t, ctx, store, 1)
	signup.End()

	msg := natstest.StreamMsgs(t, js, events.StreamName, 1)[0]
	checkOnce(t, []*jetstream.RawStreamMsg{msg}, want)
	// NATS headers are case-sensitive: the exact lower-case W3C name.
	tp0 := msg.Header["traceparent"]
	if len(tp0) != 1 {
		t.Fatalf("message headers = %v, want a lower-case traceparent", msg.Header)
	}
	carried := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": tp0[0]}))

	var publish sdktrace.ReadOnlySpan
	testkit.Eventually(t, "the publish span", func() bool {
		for _, s := range rec.Ended() {
			if s.SpanKind() == trace.SpanKindProducer {
				publish = s
				return true
			}
		}
		return false
	})
	sc := signup.SpanContext()
	switch {
	case publish.SpanContext().TraceID() != sc.TraceID():
		t.Errorf("publish span trace = %s, want the signup's %s", publish.SpanContext().TraceID(), sc.TraceID())
	case publish.Parent().SpanID() != sc.SpanID():
		t.Errorf("publish span parent = %s, want the signup span %s", publish.Parent().SpanID(), sc.SpanID())
	case carried.TraceID() != sc.TraceID() || carried.SpanID() != publish.SpanContext().SpanID():
		t.Errorf("message carries %s/%s, want the publish span %s/%s", carried.TraceID(), carried.SpanID(),
			sc.TraceID(), publish.SpanContext().SpanID())
	}
	attrs := map[string]string{}
	for _, kv := range publish.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, v := range map[string]string{"messaging.system": "nats", "messaging.destination.name": events.UserCreated, "messaging.operation.type": "send"} {
		if attrs[k] != v {
			t.Errorf("publish span %s = %q, want %q", k, attrs[k], v)
		}
	}
	for _, kv := range publish.Attributes() {
		if s := kv.Value.Emit(); len(s) > 0 && (strings.Contains(s, "secret-token") || strings.Contains(s, "ada@example.com")) {
			t.Errorf("publish span attribute %s leaks the payload: %s", kv.Key, s)
		}
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name, subject string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := subject == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "subject" && l.GetValue() == subject {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{subject=%q} not exported", name, subject)
	return 0
}

func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	v, err := testutil.GatherAndCount(g, name)
	if err != nil || v != 1 {
		t.Fatalf("metric %s: %d series, %v", name, v, err)
	}
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

func TestRelayStopsWithoutLosingRows(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	js := natstest.Connect(t, natstest.New(t).URL())
	want := enqueue(t, context.Background(), store, 2000)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- outbox.NewRelay(store, js, outbox.Options{}).Run(ctx) }()
	testkit.Eventually(t, "the first published events", func() bool {
		st, err := store.OutboxStats(context.Background())
		return err == nil && st.Pending < 2000
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	// A row is marked sent only after its ack: the stream holds at least
	// every row that is no longer pending.
	st, err := store.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs < uint64(2000-st.Pending) {
		t.Fatalf("%d rows marked sent but only %d on the stream", 2000-st.Pending, info.State.Msgs)
	}

	// A new relay finishes the job; rows the first one claimed were released.
	startRelay(t, store, js, outbox.Options{})
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, 2000), want)
	waitAllSent(t, store)
}
