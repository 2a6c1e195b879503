package natstest_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/testkit"
)

func TestRestartKeepsTheURL(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *natstest.Server{
		"in-process": natstest.New, "system": natstest.NewSystem,
	} {
		t.Run(name, func(t *testing.T) {
			n := start(t)
			url := n.URL()
			n.Stop()
			if err := n.Start(); err != nil {
				t.Fatal(err)
			}
			if n.URL() != url {
				t.Fatalf("URL changed: %s → %s", url, n.URL())
			}
			if n.Version() == "" {
				t.Error("no version")
			}
		})
	}
}

func TestListenOutsideTests(t *testing.T) {
	n, err := natstest.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	n.Stop()
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamMsgsSurvivesARestartAndReturnsEveryMessage(t *testing.T) {
	t.Parallel()
	srv := natstest.New(t)
	js := natstest.Connect(t, srv.URL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	// The client reconnects on its own; the Msg-Id makes a retried publish count once.
	testkit.Eventually(t, "a publish after the restart", func() bool {
		_, err := js.Publish(ctx, "t.b", []byte("2"), jetstream.WithMsgID("b"))
		return err == nil
	})
	msgs := natstest.StreamMsgs(t, js, "T", 2)
	if len(msgs) != 2 || string(msgs[0].Data) != "1" || string(msgs[1].Data) != "2" {
		t.Fatalf("got %d messages", len(msgs))
	}
}
