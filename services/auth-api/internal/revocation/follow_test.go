package revocation_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
)

func publish(t *testing.T, js jetstream.JetStream, r events.Revocation) {
	t.Helper()
	b, err := events.EncodeRevocation(r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, r.Subject(), b, jetstream.WithMsgID(r.ID)); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond; the deadline only bounds a broken test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowerReplaysFollowsAndSurvivesAnOutage(t *testing.T) {
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := events.EnsureSessionStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	before := sidAt(t, now.Add(-time.Minute))
	publish(t, js, rev("u", now, before)) // before the replica starts: replayed

	list := revocation.New(time.Hour)
	f := &revocation.Follower{JS: js, List: list, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Now: time.Now, Poll: 200 * time.Millisecond, Retry: 50 * time.Millisecond}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()

	eventually(t, "the replay completes", func() bool { return !list.LastHeard().IsZero() })
	if !list.Revoked("u", before) {
		t.Fatal("a revocation published before start was not replayed by the time the list reported current")
	}

	live := sidAt(t, now)
	publish(t, js, rev("u", time.Now(), live))
	eventually(t, "a new revocation arrives", func() bool { return list.Revoked("u", live) })

	if _, err := js.Publish(ctx, events.SessionRevoked, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	heardBefore := list.LastHeard()
	after := sidAt(t, now)
	eventually(t, "publish after the restart", func() bool {
		r := rev("u", time.Now(), after)
		b, _ := events.EncodeRevocation(r)
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, r.Subject(), b, jetstream.WithMsgID(r.ID))
		return err == nil
	})
	eventually(t, "the feed recovers past a malformed event", func() bool {
		return list.Revoked("u", after) && list.LastHeard().After(heardBefore)
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
