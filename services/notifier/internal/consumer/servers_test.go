package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/testkit"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/services/notifier/internal/consumer"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

func TestFilterSubject(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"user.created"}, "user.created"},
		{[]string{"user.created", "user.verification_requested", "user.signup_duplicate"}, "user.>"},
		{notify.EmailSubjects, "user.>"},
		{notify.AgentSubjects, "user.>"},
		{[]string{"user.created"}, "user.created"},
		{[]string{"a.b.c", "a.b.d"}, "a.b.>"},
		{[]string{"a.b", "a.b.c"}, "a.>"},
		{[]string{"a.b", "c.d"}, ">"},
	} {
		if got := consumer.FilterSubject(tc.in); got != tc.want {
			t.Errorf("FilterSubject(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// recorder is a handler that records the events it took and fails the
// event ids in permanent once.
type recorder struct {
	mu        sync.Mutex
	handled   map[string]int
	permanent map[string]bool
}

func (r *recorder) Handle(_ context.Context, e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.permanent[e.ID] {
		delete(r.permanent, e.ID)
		return notify.Permanent(errors.New("rejected"))
	}
	r.handled[e.ID]++
	return nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handled[id]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.handled {
		n += c
	}
	return n
}

func publish(t *testing.T, js jetstream.JetStream, typ string) string {
	t.Helper()
	return publishWithID(t, js, typ, uuid.NewString())
}

// Both supported server versions (the current release in-process, 2.9 from
// the system package) run two independent durables with one filter subject
// each: every event reaches each consumer that takes it once, events inside
// a filter that the handler does not take are acknowledged unhandled, dead
// letters and their replay work, and the idempotency bucket exists.
func TestConsumersOnEverySupportedServer(t *testing.T) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB) *natstest.Server
	}{{"current", natstest.New}, {"system-2.9", natstest.NewSystem}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			nc, err := natsx.Connect(srv.start(t).URL(), natsx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc.Conn)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			kv, err := natsx.Retry(ctx, nil, "ensure", func(ctx context.Context) (jetstream.KeyValue, error) {
				return consumer.Ensure(ctx, js, 1, 0)
			})
			if err != nil {
				t.Fatal(err)
			}

			// The email durable here takes two of the three types, so the
			// third is inside its filter ("user.>") but not its handler's.
			subjects := map[string][]string{
				"email": {events.UserCreated, events.VerificationRequested},
				"agent": {events.UserCreated},
			}
			email := &recorder{handled: map[string]int{}, permanent: map[string]bool{}}
			agent := &recorder{handled: map[string]int{}, permanent: map[string]bool{}}
			reg := prometheus.NewRegistry()
			metrics, err := consumer.NewMetrics(reg, subjects)
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			run, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for name, h := range map[string]*recorder{"email": email, "agent": agent} {
				c := consumer.New(consumer.Config{Name: name, Subjects: subjects[name], Concurrency: 4,
					RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, FetchWait: 100 * time.Millisecond},
					js, kv, h, log, noop.NewTracerProvider(), propagation.TraceContext{}, metrics)
				wg.Go(func() { _ = c.Run(run, context.Background()) })
			}
			t.Cleanup(func() { stop(); wg.Wait() })

			var created []string
			for range 20 {
				created = append(created, publish(t, js, events.UserCreated))
			}
			verify := publish(t, js, events.VerificationRequested)
			dup := publish(t, js, events.SignupDuplicate)
			rejectedID := uuid.NewString()
			email.mu.Lock()
			email.permanent[rejectedID] = true
			email.mu.Unlock()
			publishWithID(t, js, events.UserCreated, rejectedID)

			testkit.Eventually(t, "every event handled", func() bool {
				return email.total() == 21 && agent.total() == 21 && dlqCount(t, js) == 1
			})
			for _, id := range created {
				if email.count(id) != 1 || agent.count(id) != 1 {
					t.Errorf("user.created %s handled email=%d agent=%d, want 1 each", id, email.count(id), agent.count(id))
				}
			}
			if email.count(verify) != 1 || agent.count(verify) != 0 {
				t.Errorf("verification handled email=%d agent=%d, want 1 and 0", email.count(verify), agent.count(verify))
			}
			if email.count(dup) != 0 || agent.count(dup) != 0 {
				t.Errorf("signup_duplicate handled by a consumer that does not take it")
			}
			for _, name := range []string{"email", "agent"} {
				testkit.Eventually(t, name+" has nothing pending", func() bool {
					cons, err := js.Consumer(context.Background(), events.StreamName, name)
					if err != nil {
						return false
					}
					info, err := cons.Info(context.Background())
					return err == nil && info.NumPending == 0 && info.NumAckPending == 0
				})
			}

			// The dead letter names its consumer and subject; a replay goes to
			// the email consumer only (agent has it already).
			var list bytes.Buffer
			if err := consumer.List(ctx, js, &list); err != nil {
				t.Fatal(err)
			}
			var dl consumer.DeadLetter
			if err := json.Unmarshal(list.Bytes(), &dl); err != nil {
				t.Fatalf("dlq list %q: %v", list.String(), err)
			}
			if dl.Consumer != "email" || dl.Subject != events.UserCreated || dl.Reason != consumer.ReasonPermanent || dl.EventID != rejectedID {
				t.Fatalf("dead letter %+v", dl)
			}
			if err := consumer.Replay(ctx, js, nil, true, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, "the replay handled by email", func() bool { return email.count(rejectedID) == 1 })
			testkit.Eventually(t, "the dead-letter stream empty", func() bool { return dlqCount(t, js) == 0 })
			if agent.count(rejectedID) != 1 {
				t.Errorf("agent handled the replayed event %d times, want 1 (the original)", agent.count(rejectedID))
			}
			if _, err := kv.Get(ctx, "email."+rejectedID); err != nil {
				t.Errorf("idempotency record for the replayed event: %v", err)
			}
		})
	}
}

func publishWithID(t *testing.T, js jetstream.JetStream, typ, id string) string {
	t.Helper()
	e := events.Event{ID: id, Type: typ, Version: events.Version, OccurredAt: time.Now().UTC(),
		User: events.User{UID: uuid.NewString(), Username: "ada", Email: "ada@example.com"}}
	if typ != events.SignupDuplicate {
		exp := time.Now().Add(time.Hour).UTC()
		e.VerifyURL, e.VerifyExpiresAt = "http://localhost/api/verify/t/", &exp
	}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), e.Subject(), data, jetstream.WithMsgID(e.ID)); err != nil {
		t.Fatal(err)
	}
	return id
}

func dlqCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), consumer.DLQStream)
	if err != nil {
		return 0
	}
	info, err := s.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// A durable made by an earlier notifier with several filter subjects (the
// configuration before 2.9 was supported) is updated in place to the single
// filter, keeping its position: nothing already acknowledged comes again.
func TestDurableWithFilterSubjectsIsUpdated(t *testing.T) {
	t.Parallel()
	nc, err := natsx.Connect(natstest.New(t).URL(), natsx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kv, err := consumer.Ensure(ctx, js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	old, err := js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable: "email", FilterSubjects: notify.EmailSubjects, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	first := publish(t, js, events.UserCreated)
	msgs, err := old.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	second := publish(t, js, events.VerificationRequested)

	email := &recorder{handled: map[string]int{}, permanent: map[string]bool{}}
	metrics, err := consumer.NewMetrics(prometheus.NewRegistry(), map[string][]string{"email": notify.EmailSubjects})
	if err != nil {
		t.Fatal(err)
	}
	c := consumer.New(consumer.Config{Name: "email", Subjects: notify.EmailSubjects, FetchWait: 100 * time.Millisecond},
		js, kv, email, slog.New(slog.DiscardHandler), noop.NewTracerProvider(), propagation.TraceContext{}, metrics)
	run, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(run, context.Background()) }()
	t.Cleanup(func() { stop(); <-done })
	testkit.Eventually(t, "the new event handled", func() bool { return email.count(second) == 1 })
	if email.count(first) != 0 {
		t.Errorf("an event acknowledged before the update was delivered again")
	}
	info, err := js.Consumer(ctx, events.StreamName, "email")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := info.CachedInfo().Config; cfg.FilterSubject != "user.>" || len(cfg.FilterSubjects) != 0 {
		t.Errorf("durable filter = %q %v, want user.> alone", cfg.FilterSubject, cfg.FilterSubjects)
	}
}
