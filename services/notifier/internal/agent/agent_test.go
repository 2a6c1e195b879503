package agent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/notifier/internal/agent"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

func TestCreateUser(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		wantErr       bool
		wantPermanent bool
		class         string
	}{
		{"201 created", 0, false, false, "2xx"},
		{"409 conflict is success", 409, false, false, "4xx"},
		{"400 permanent", 400, true, true, "4xx"},
		{"401 permanent", 401, true, true, "4xx"},
		{"404 permanent", 404, true, true, "4xx"},
		{"429 retried", 429, true, false, "4xx"},
		{"500 retried", 500, true, false, "5xx"},
		{"503 retried", 503, true, false, "5xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := agenttest.Start("tok")
			defer fake.Close()
			fake.SetStatus(tt.status)
			reg := prometheus.NewRegistry()
			m, err := agent.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			c := agent.New(agent.Config{BaseURL: mustParse(t, fake.URL+"/"), Token: "tok", Timeout: time.Second},
				noop.NewTracerProvider(), propagation.TraceContext{}, m)
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4}, TraceFlags: trace.FlagsSampled})
			ctx := trace.ContextWithSpanContext(context.Background(), sc)
			u := events.User{UID: "0b0c-uid", Username: "john", Email: "john@example.com"}
			err = c.CreateUser(ctx, u)
			if (err != nil) != tt.wantErr || errors.Is(err, notify.ErrPermanent) != tt.wantPermanent {
				t.Fatalf("err = %v; want error %v, permanent %v", err, tt.wantErr, tt.wantPermanent)
			}
			call := fake.Calls()[0]
			if call.UID != u.UID || call.Token != "tok" || call.Body != (agenttest.User{UID: u.UID, Username: u.Username, Email: u.Email}) {
				t.Errorf("call %+v", call)
			}
			if !strings.Contains(call.TraceParent, sc.TraceID().String()) {
				t.Errorf("traceparent %q", call.TraceParent)
			}
			n, err := testutil.GatherAndCount(reg, "kairos_agent_responses_total")
			if err != nil || n != 4 {
				t.Errorf("%d series (%v), want 4 pre-created", n, err)
			}
		})
	}
}

func TestTimeoutAndConnectionErrorsAreTemporary(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handler
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, url := range []string{slow.URL, closed.URL} {
		m, err := agent.NewMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		c := agent.New(agent.Config{BaseURL: mustParse(t, url), Token: "tok", Timeout: 100 * time.Millisecond},
			noop.NewTracerProvider(), propagation.TraceContext{}, m)
		err = c.CreateUser(context.Background(), events.User{UID: "u"})
		if err == nil || errors.Is(err, notify.ErrPermanent) || strings.Contains(err.Error(), "tok") {
			t.Errorf("%s: err = %v; want a temporary error without the token", url, err)
		}
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUpdateAndDeleteUser(t *testing.T) {
	fake := agenttest.Start("tok")
	defer fake.Close()
	m, err := agent.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := agent.New(agent.Config{BaseURL: mustParse(t, fake.URL), Token: "tok", Timeout: time.Second},
		noop.NewTracerProvider(), propagation.TraceContext{}, m)
	ctx := context.Background()
	u := events.User{UID: "u1", Username: "john", Email: "john@example.com"}

	// A patch before the creation is through is a 404: permanent, so it is
	// dead-lettered and can be replayed rather than retried for ever.
	if err := c.UpdateUser(ctx, u); !errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("update of an unknown user: %v, want permanent", err)
	}
	if err := c.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.Email = "new@example.com"
	fake.FailNext(500)
	if err := c.UpdateUser(ctx, u); err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("update answered 500: %v, want temporary", err)
	}
	if err := c.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := fake.Users()["u1"]; got.Email != "new@example.com" {
		t.Errorf("Agent has %+v after the patch", got)
	}
	calls := fake.Calls()
	if last := calls[len(calls)-1]; last.Method != "PATCH" || last.Token != "tok" ||
		last.Body != (agenttest.User{Username: "john", Email: "new@example.com"}) {
		t.Errorf("patch call %+v", last)
	}
	// Delete twice: the second finds nothing (404), which is done.
	for i := range 2 {
		if err := c.DeleteUser(ctx, "u1"); err != nil {
			t.Fatalf("delete %d: %v", i+1, err)
		}
	}
	if _, ok := fake.Users()["u1"]; ok {
		t.Error("user still in the Agent")
	}
	fake.FailNext(503)
	if err := c.DeleteUser(ctx, "u1"); err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Errorf("delete answered 503: %v, want temporary", err)
	}
}
