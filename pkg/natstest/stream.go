package natstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/testkit"
)

// Connect returns a JetStream client of url that reconnects forever (so it
// survives a Restart) and is closed when the test ends.
func Connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return js
}

// StreamMsgs waits until stream holds at least n messages and returns every
// message it holds, oldest first. The stream's own count is what a consumer
// deduplicating by message id would see at most.
func StreamMsgs(t testing.TB, js jetstream.JetStream, stream string, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	var s jetstream.Stream
	testkit.Eventually(t, fmt.Sprintf("%d messages on stream %s", n, stream), func() bool {
		if s == nil {
			var err error
			if s, err = js.Stream(ctx, stream); err != nil {
				s = nil
				return false
			}
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs >= uint64(n)
	})
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("natstest: stream info: %v", err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("natstest: message %d: %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}
