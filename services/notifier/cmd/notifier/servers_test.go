package main

import (
	"strings"
	"testing"

	"github.com/kairos-platform/identity/pkg/testkit"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
)

// On the oldest supported server (Debian's nats-server 2.9, which has no
// multiple filter subjects) the notifier becomes ready, sends every email
// and syncs every new user once; the other tests cover the current release.
func TestOldestSupportedNATSServer(t *testing.T) {
	s := newStackOn(t, natstest.NewSystem(t))
	created, dup := newEvent(events.UserCreated), newEvent(events.SignupDuplicate)
	s.publish(created, "")
	s.publish(dup, "")
	s.publish(newEvent(events.VerificationRequested), "")
	in := s.start(nil)
	if _, err := s.smtp.WaitFor(waitCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every message acknowledged", func() bool {
		m := in.metrics()
		return strings.Contains(m, `kairos_notifier_messages_total{consumer="email",result="ok",subject="user.signup_duplicate"} 1`) &&
			strings.Contains(m, `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.created"} 1`)
	})
	in.stop()
	if n := len(s.smtp.Messages()); n != 3 {
		t.Errorf("%d emails, want 3", n)
	}
	if n := len(s.agent.Calls()); n != 1 {
		t.Errorf("%d Agent calls, want 1", n)
	}
}
