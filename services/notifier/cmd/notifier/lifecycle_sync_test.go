package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/testkit"
)

// lifecycleEvent is an event of typ about u (email change or deletion).
func lifecycleEvent(typ string, u events.User) events.Event {
	e := newEvent(events.SignupDuplicate) // no link fields
	e.Type, e.User = typ, u
	return e
}

// The fault matrix's Agent cases: a patch answered 500 is retried until it
// lands, a delete answered 404 (the Agent never had the user, or a retry
// after a lost answer) is done; nothing is dead-lettered, and the goodbye
// email goes out.
func TestAgentFollowsEmailChangeAndDeletion(t *testing.T) {
	s := newStack(t)
	created := newEvent(events.UserCreated)
	s.publish(created, "")
	in := s.start(nil)
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	moved := created.User
	moved.Email = "moved-" + moved.Email
	s.agent.FailNext(http.StatusInternalServerError, http.StatusInternalServerError)
	s.publish(lifecycleEvent(events.EmailChanged, moved), "")
	if err := s.agent.WaitFor(waitCtx(t), func(u map[string]agenttest.User) bool {
		return u[moved.UID].Email == moved.Email
	}); err != nil {
		t.Fatal(err)
	}

	s.publish(lifecycleEvent(events.UserDeleted, moved), "")
	if err := s.agent.WaitFor(waitCtx(t), func(u map[string]agenttest.User) bool { return len(u) == 0 }); err != nil {
		t.Fatal(err)
	}
	never := newEvent(events.UserCreated).User // unknown to the Agent: 404
	s.publish(lifecycleEvent(events.UserDeleted, never), "")

	testkit.Eventually(t, "every Agent message acknowledged", func() bool {
		m := in.metrics()
		return strings.Contains(m, `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.email_changed"} 1`) &&
			strings.Contains(m, `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.deleted"} 2`)
	})
	var methods []string
	for _, c := range s.agent.Calls() {
		methods = append(methods, c.Method+" "+http.StatusText(c.Status))
	}
	want := "POST Created,PATCH Internal Server Error,PATCH Internal Server Error,PATCH No Content,DELETE No Content,DELETE Not Found"
	if got := strings.Join(methods, ","); got != want {
		t.Errorf("Agent calls:\n%s\nwant\n%s", got, want)
	}
	msgs, err := s.smtp.WaitFor(waitCtx(t), 3) // verification + two goodbyes
	if err != nil {
		t.Fatal(err)
	}
	goodbyes := 0
	for _, m := range msgs {
		if strings.Contains(m.Text, "account was deleted") {
			goodbyes++
		}
	}
	if goodbyes != 2 {
		t.Errorf("%d goodbye emails, want 2", goodbyes)
	}
	if strings.Contains(in.metrics(), `result="dead_letter"`+"} 1") {
		t.Error("something was dead-lettered")
	}
}

// AGENT_SYNC_EVENTS=created: an Agent without PATCH and DELETE is only
// asked to create.
func TestAgentSyncEventsLimit(t *testing.T) {
	s := newStack(t)
	created := newEvent(events.UserCreated)
	s.publish(created, "")
	s.publish(lifecycleEvent(events.EmailChanged, created.User), "")
	s.publish(lifecycleEvent(events.UserDeleted, created.User), "")
	in := s.start(map[string]string{"AGENT_SYNC_EVENTS": "created"})
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the change and the deletion passed over", func() bool {
		m := in.metrics()
		return strings.Contains(m, `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.email_changed"} 1`) &&
			strings.Contains(m, `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.deleted"} 1`)
	})
	if n := len(s.agent.Calls()); n != 1 {
		t.Errorf("%d Agent calls, want only the creation", n)
	}
}

// An agent durable left by an older notifier filters on user.created; the
// new one widens it to user.> on both supported server lines.
func TestAgentDurableWidened(t *testing.T) {
	for name, newServer := range map[string]func(testing.TB) *natstest.Server{"current": natstest.New, "2.9": natstest.NewSystem} {
		t.Run(name, func(t *testing.T) {
			s := newStackOn(t, newServer(t))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := s.js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
				Durable: "agent", FilterSubject: events.UserCreated, AckPolicy: jetstream.AckExplicitPolicy,
			}); err != nil {
				t.Fatal(err)
			}
			created := newEvent(events.UserCreated)
			s.publish(created, "")
			s.publish(lifecycleEvent(events.UserDeleted, created.User), "")
			s.start(nil)
			if err := s.agent.WaitFor(waitCtx(t), func(map[string]agenttest.User) bool {
				for _, c := range s.agent.Calls() {
					if c.Method == http.MethodDelete {
						return true
					}
				}
				return false
			}); err != nil {
				t.Fatal(err)
			}
			info, err := s.js.Consumer(ctx, events.StreamName, "agent")
			if err != nil {
				t.Fatal(err)
			}
			if f := info.CachedInfo().Config.FilterSubject; f != "user.>" {
				t.Errorf("filter %q, want user.>", f)
			}
		})
	}
}
