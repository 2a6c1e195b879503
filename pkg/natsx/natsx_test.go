package natsx_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/natsx"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:secret@nats.example:4222", "nats://nats.example:4222"},
		{"nats://s3cr3ttoken@nats.example:4222", "nats://nats.example:4222"},
		{"tls://u:p@a:4222,tls://u:p@b:4222", "tls://a:4222,tls://b:4222"},
		{"nats://a:4222, nats://u:p@b:4222", "nats://a:4222,nats://b:4222"},
		{"wss://u:p@ws.example/path?x=1", "wss://ws.example/path?x=1"},
		{"user:pass@host:4222", "host:4222"},
		{"nats://u:p@ss@host:4222", "nats://host:4222"},
		{"bogus", "bogus"},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := natsx.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"nats://127.0.0.1:4222", true},
		{"nats://nats", true},
		{"tls://nats.example:4222", true},
		{"ws://127.0.0.1:8080", true},
		{"wss://nats.example", true},
		{"NATS://127.0.0.1:4222", true},
		{"nats://u:p@a:4222,nats://b:4222", true},
		{"nats://[::1]:4222", true},
		{"", false},
		{"bogus", false},
		{"http://x", false},
		{"https://x:4222", false},
		{"127.0.0.1:4222", false},
		{"nats://", false},
		{"nats://:4222", false},
		{"nats://a:0", false},
		{"nats://a:99999", false},
		{"nats://a:port", false},
		{"nats://a:4222,", false},
		{"nats://a:4222,http://b", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			err := natsx.ValidateURL(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateURL(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
	err := natsx.ValidateURL("http://user:topsecret@x")
	if err == nil || strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "http://x") {
		t.Errorf("error %v: want the URL without its password", err)
	}
}

func TestBackoff(t *testing.T) {
	base, limit := 100*time.Millisecond, 2*time.Second
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{5, 2 * time.Second},
		{1000, 2 * time.Second},
		{-1, 100 * time.Millisecond},
	} {
		for range 50 {
			d := natsx.Backoff(tc.attempt, base, limit)
			if d < tc.want*8/10 || d > tc.want*12/10 {
				t.Fatalf("Backoff(%d) = %s, want %s ±20%%", tc.attempt, d, tc.want)
			}
		}
	}
	if d := natsx.Backoff(3, 0, limit); d != 0 {
		t.Errorf("zero base: %s", d)
	}
}

func TestSleep(t *testing.T) {
	if err := natsx.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := natsx.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
}

func TestHeaderCarrierKeepsLowerCase(t *testing.T) {
	prop := propagation.TraceContext{}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	msg := nats.NewMsg("user.x")
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sc), natsx.HeaderCarrier(msg.Header))
	if msg.Header["traceparent"] == nil {
		t.Fatalf("headers %v: want a lower-case traceparent", msg.Header)
	}
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), natsx.HeaderCarrier(msg.Header)))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Fatalf("extracted %v, want %v", got, sc)
	}
	if keys := natsx.HeaderCarrier(msg.Header).Keys(); len(keys) != 1 {
		t.Errorf("keys %v", keys)
	}
	if natsx.HeaderCarrier(nil).Get("traceparent") != "" {
		t.Error("nil header: want empty")
	}
}

func TestConnectDrainWaitsForClose(t *testing.T) {
	srv := natstest.New(t)
	c, err := natsx.Connect(srv.URL(), natsx.Options{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 1)
	if _, err := c.Subscribe("x", func(m *nats.Msg) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish("x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := c.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if !c.IsClosed() {
		t.Fatal("Drain returned before the connection closed")
	}
	select {
	case <-c.Closed():
	default:
		t.Fatal("Closed() not closed after Drain")
	}
	select {
	case <-got:
	default:
		t.Fatal("the message published before Drain was not delivered")
	}
	// Draining again is harmless.
	if err := c.Drain(context.Background()); err != nil {
		t.Fatalf("second Drain: %v", err)
	}
}

func TestConnectWithoutServerRetriesAndLogsWithoutCredentials(t *testing.T) {
	srv := natstest.New(t)
	srv.Stop()
	url := strings.Replace(srv.URL(), "nats://", "nats://alice:hunter2@", 1)
	var logs testkit.LogBuffer
	c, err := natsx.Connect(url, natsx.Options{Name: "test", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		ReconnectWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Connect with no server up must not fail: %v", err)
	}
	defer c.Close()
	if c.IsConnected() {
		t.Fatal("connected to a stopped server")
	}
	srv.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := natsx.Retry(ctx, nil, "flush", func(context.Context) (struct{}, error) {
		return struct{}{}, c.Flush()
	}); err != nil {
		t.Fatalf("never connected: %v", err)
	}
	if err := natsx.CheckVersion(c.Conn, natsx.MinServerVersion); err != nil {
		t.Errorf("current server: %v", err)
	}
	if err := natsx.CheckVersion(c.Conn, "99.0.0"); err == nil || !strings.Contains(err.Error(), c.ConnectedServerVersion()) ||
		!strings.Contains(err.Error(), "99.0.0") {
		t.Errorf("CheckVersion against a future minimum = %v; want both versions named", err)
	}

	srv.Stop() // a disconnect while connected is logged
	srv.Start()
	if _, err := natsx.Retry(ctx, nil, "flush", func(context.Context) (struct{}, error) {
		return struct{}{}, c.Flush()
	}); err != nil {
		t.Fatalf("never reconnected: %v", err)
	}
	// The reconnect callback runs on its own goroutine, after Flush may have
	// returned.
	if _, err := natsx.Retry(ctx, nil, "reconnect log", func(context.Context) (bool, error) {
		if !strings.Contains(logs.String(), "NATS reconnected") {
			return false, errors.New("not yet")
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "alice") {
		t.Errorf("credentials logged:\n%s", out)
	}
	for _, want := range []string{"NATS connected", "NATS disconnected", "NATS reconnected", strings.TrimPrefix(srv.URL(), "nats://")} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

func TestDrainWhileDisconnectedCloses(t *testing.T) {
	srv := natstest.New(t)
	srv.Stop()
	c, err := natsx.Connect(srv.URL(), natsx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if !c.IsClosed() {
		t.Fatal("not closed")
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	var logs testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := natsx.Retry(ctx, slog.New(slog.NewTextHandler(&logs, nil)), "thing", func(context.Context) (int, error) {
		calls++
		if calls == 3 {
			cancel()
		}
		return 0, errors.New("boom")
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry = %v, want context.Canceled", err)
	}
	if n := strings.Count(logs.String(), "thing: failed; retrying"); n != 1 {
		t.Errorf("logged %d failures, want only the first:\n%s", n, logs.String())
	}
}

// servers are the nats-server versions the services support: the current
// release in-process and the oldest, Debian's 2.9 binary.
var servers = []struct {
	name  string
	start func(testing.TB) *natstest.Server
}{{"current", natstest.New}, {"system-2.9", natstest.NewSystem}}

func TestEnsureStreamAndBucket(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			c, err := natsx.Connect(srv.start(t).URL(), natsx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			js, err := jetstream.New(c.Conn)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage,
				MaxAge: time.Hour, Duplicates: time.Minute}
			for range 2 { // idempotent
				if _, err := natsx.EnsureStream(ctx, nil, js, cfg); err != nil {
					t.Fatal(err)
				}
			}
			kv, err := natsx.Retry(ctx, nil, "bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
				return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B", TTL: time.Hour,
					Storage: jetstream.FileStorage})
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
				t.Fatalf("Get = %v, %v", e, err)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			ns := srv.start(t)
			c, err := natsx.Connect(ns.URL(), natsx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.ConnectedServerVersion(); got != ns.Version() {
				t.Fatalf("connected to %q, server says %q", got, ns.Version())
			}
			if err := natsx.CheckVersion(c.Conn, natsx.MinServerVersion); err != nil {
				t.Errorf("supported server refused: %v", err)
			}
			err = natsx.CheckVersion(c.Conn, "99.1.0")
			if err == nil || !strings.Contains(err.Error(), ns.Version()) || !strings.Contains(err.Error(), "99.1.0") {
				t.Errorf("CheckVersion(99.1.0) = %v; want both versions named", err)
			}
		})
	}
}

func TestSystemServerRestartsOnItsStore(t *testing.T) {
	ns := natstest.NewSystem(t)
	c, err := natsx.Connect(ns.URL(), natsx.Options{ReconnectWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	js, err := jetstream.New(c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := natsx.EnsureStream(ctx, nil, js, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.x", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	ns.Restart()
	m, err := natsx.Retry(ctx, nil, "get", func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		s, err := js.Stream(ctx, "S")
		if err != nil {
			return nil, err
		}
		return s.GetMsg(ctx, 1)
	})
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("after restart: %v, %v", m, err)
	}
}
