package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/pgtest"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// service is one auth-api started through run, as main would.
type service struct {
	api, admin string // base URLs
	logs       *testkit.LogBuffer
	stop       context.CancelFunc
	done       chan error
}

// start runs auth-api with env (plus test defaults) and waits until it is
// ready. The addresses come from its "listening" log line (port 0).
func start(t *testing.T, env map[string]string) *service {
	t.Helper()
	full := map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "HASH_CONCURRENCY": "2",
		"IP_RATE_LIMIT_RPS": "0", "SHUTDOWN_TIMEOUT": "30s", "PUBLIC_URL": "http://localhost:8080",
		"JWT_SIGNING_KEYS_FILE": keyFile(t),
	}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{logs: &testkit.LogBuffer{}, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"auth-api"}, getenvFrom(full), s.logs) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for s.api == "" {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("run returned before listening: %v\n%s", err, s.logs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", s.logs)
		}
		sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
		for sc.Scan() {
			var line struct{ Msg, HTTP, Admin string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				s.api, s.admin = "http://"+line.HTTP, "http://"+line.Admin
			}
		}
	}
	testkit.Eventually(t, "ready", func() bool { return s.status(t, s.admin+"/readyz") == 200 })
	return s
}

// keyFile writes a bundle of the given PEM keys (a fresh ES256 key when
// none) and returns its path, for JWT_SIGNING_KEYS_FILE.
func keyFile(t *testing.T, pems ...[]byte) string {
	t.Helper()
	if len(pems) == 0 {
		k, err := tokens.Generate(tokens.TypeES256)
		if err != nil {
			t.Fatal(err)
		}
		pems = [][]byte{k}
	}
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, bytes.Join(pems, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *service) status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *service) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.api+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (s *service) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// stopped cancels run's context (SIGTERM) and returns run's result.
func (s *service) stopped(t *testing.T) error {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return after cancellation")
		return nil
	}
}

// streamEvents waits until the USERS stream holds n messages and returns
// their events and Msg-Ids.
func streamEvents(t *testing.T, natsURL string, n int) ([]events.Event, []string) {
	t.Helper()
	var evs []events.Event
	var ids []string
	for _, m := range natstest.StreamMsgs(t, natstest.Connect(t, natsURL), events.StreamName, n) {
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return evs, ids
}

type loginAnswer struct {
	Message      string `json:"message"`
	AuthID       string `json:"auth_id"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func tokenFrom(t *testing.T, verifyURL string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(verifyURL, "http://localhost:8080/api/verify/")
	if !ok {
		t.Fatalf("verify_url %q", verifyURL)
	}
	return strings.TrimSuffix(tok, "/")
}

// The README's walk, through run: signup → event on JetStream → verify →
// login → auth_id; then metrics, and a clean exit on SIGTERM.
func TestServiceWalk(t *testing.T) {
	t.Parallel()
	ns := natstest.New(t)
	s := start(t, map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL()})

	code, body := s.post(t, "/api/signup/", `{"username":"johndoe","email":"john@example.com","password":"correct-horse-42"}`)
	if code != 200 || body != `{"message":"Signup successful. Verify email."}` {
		t.Fatalf("signup: %d %s", code, body)
	}
	evs, ids := streamEvents(t, ns.URL(), 1)
	ev := evs[0]
	if ev.Type != events.UserCreated || ids[0] != ev.ID || ev.User.Email != "john@example.com" {
		t.Fatalf("event %+v (Nats-Msg-Id %q)", ev, ids[0])
	}
	code, body = s.get(t, s.api+"/api/verify/"+tokenFrom(t, ev.VerifyURL))
	if code != 200 || body != `{"message":"Email verified"}` {
		t.Fatalf("verify: %d %s", code, body)
	}
	code, body = s.post(t, "/api/login", `{"email":"John@Example.com","password":"correct-horse-42"}`)
	var login loginAnswer
	if err := json.Unmarshal([]byte(body), &login); err != nil || code != 200 || login.Message != "Login successful" ||
		login.AuthID != ev.User.UID || login.AccessToken == "" || login.RefreshToken == "" {
		t.Fatalf("login: %d %s", code, body)
	}

	_, metrics := s.get(t, s.admin+"/metrics")
	for _, want := range []string{
		`http_server_request_duration_seconds_count{code="200",method="GET",route="/api/verify/{token}/"} 1`,
		`kairos_signups_total{result="ok"} 1`,
		`kairos_logins_total{result="ok"} 1`,
		`kairos_build_info{commit="dev",service="auth-api",version="dev"} 1`,
		`kairos_nats_connected 1`,
		`kairos_db_pool_max_connections`,
		`kairos_outbox_published_total{subject="user.created"} 1`,
		`kairos_password_hash_duration_seconds_count{op="verify"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := s.status(t, s.admin+"/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if err := s.stopped(t); err != nil {
		t.Fatalf("run after SIGTERM: %v", err)
	}
	logs := s.logs.String()
	for _, secret := range []string{"correct-horse-42", tokenFrom(t, ev.VerifyURL), "$argon2id"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a secret %q", secret)
		}
	}
}

// Signups keep working while NATS is down; their events go out once it is
// back, each exactly once on the stream (Nats-Msg-Id = event id).
func TestSignupsWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	ns := natstest.New(t)
	s := start(t, map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL()})
	// One event before the outage, so the stream exists.
	if code, _ := s.post(t, "/api/signup/", `{"username":"a","email":"before@example.com","password":"correct-horse-42"}`); code != 200 {
		t.Fatal(code)
	}
	streamEvents(t, ns.URL(), 1)

	ns.Stop()
	testkit.Eventually(t, "readiness to ignore NATS", func() bool { return s.status(t, s.admin+"/readyz") == 200 })
	const n = 10
	for i := range n {
		code, body := s.post(t, "/api/signup/", fmt.Sprintf(`{"username":"u%d","email":"u%d@example.com","password":"correct-horse-42"}`, i, i))
		if code != 200 {
			t.Fatalf("signup %d with NATS down: %d %s", i, code, body)
		}
	}
	// The same address again and a resend: events of every kind queue up.
	s.post(t, "/api/signup/", `{"username":"again","email":"U1@example.com","password":"correct-horse-42"}`)
	s.post(t, "/api/verify/resend/", `{"email":"u2@example.com"}`)

	ns.Start()
	evs, ids := streamEvents(t, ns.URL(), 1+n+2)
	seen := map[string]bool{}
	for i, ev := range evs {
		if seen[ev.ID] || ids[i] != ev.ID {
			t.Fatalf("event %s published twice or without its Msg-Id (%q)", ev.ID, ids[i])
		}
		seen[ev.ID] = true
	}
	if len(evs) != 1+n+2 {
		t.Fatalf("%d events on the stream, want %d", len(evs), 1+n+2)
	}
	if err := s.stopped(t); err != nil {
		t.Fatal(err)
	}
}

// SIGTERM with a request in flight: readiness turns 503 at once, the
// request completes, and run returns nil.
func TestGracefulShutdownWithRequestInFlight(t *testing.T) {
	t.Parallel()
	ns := natstest.New(t)
	s := start(t, map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL()})

	// A signup whose body arrives in two parts: the handler is running
	// (in flight) while it waits for the second.
	body := `{"username":"late","email":"late@example.com","password":"correct-horse-42"}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/signup/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	testkit.Eventually(t, "the request to be in flight", func() bool {
		_, m := s.get(t, s.admin+"/metrics")
		return strings.Contains(m, "http_server_requests_in_flight 1")
	})

	s.stop()
	testkit.Eventually(t, "readiness to fail", func() bool { return s.status(t, s.admin+"/readyz") == 503 })
	select {
	case err := <-s.done:
		t.Fatalf("run returned with a request in flight: %v", err)
	default:
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Signup successful") {
		t.Fatalf("in-flight request: %d %s", resp.StatusCode, b)
	}
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return after the last request")
	}
	// The event of the last request went out before the relay stopped, or
	// stays in the outbox for the next process: never lost.
}

func TestServeRefusesAStaleSchemaAndMigrateFixesIt(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t, pgtest.Template{Fingerprint: "empty-v1", Migrate: func(context.Context, string) error { return nil }})
	env := getenvFrom(map[string]string{"DATABASE_URL": url, "JWT_SIGNING_KEYS_FILE": keyFile(t), "HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "NATS_URL": "nats://127.0.0.1:1"})
	err := run(context.Background(), []string{"auth-api"}, env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "auth-api migrate") {
		t.Fatalf("serve on an empty database: %v, want a refusal naming `auth-api migrate`", err)
	}
	var out testkit.LogBuffer
	if err := run(context.Background(), []string{"auth-api", "migrate"}, env, &out); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := run(context.Background(), []string{"auth-api", "migrate"}, env, &out); err != nil {
		t.Fatalf("migrate twice: %v", err)
	}
	if !strings.Contains(out.String(), "migrations applied") {
		t.Fatalf("migrate output: %s", out.String())
	}
	s := start(t, map[string]string{"DATABASE_URL": url, "NATS_URL": natstest.New(t).URL()})
	if err := s.stopped(t); err != nil {
		t.Fatal(err)
	}
}
