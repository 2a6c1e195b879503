// Package agent creates users in the Kairos Agent: POST {base}/users/{uid}
// with X-Service-Token and a JSON body. The call is idempotent by uid on the
// Agent's side, so retrying it is always safe.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

// Response classes, the values of kairos_agent_responses_total{class}.
var classes = []string{"2xx", "4xx", "5xx", "error"}

// Config is how to reach the Agent.
type Config struct {
	BaseURL *url.URL // http(s), checked by the caller
	Token   string
	Timeout time.Duration // per call
	// MaxConns bounds connections to the Agent (idle ones are kept for reuse).
	MaxConns int
}

// Client implements notify.AgentClient.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	responses *prometheus.CounterVec
}

// Metrics are the Agent client's series.
type Metrics struct{ responses *prometheus.CounterVec }

// NewMetrics registers kairos_agent_responses_total{class} on reg with every
// class pre-created. It is separate from New so the series exist even when
// the Agent sync is off.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_agent_responses_total",
		Help: "Agent calls by outcome: HTTP status class, or error for timeouts and connection failures.",
	}, []string{"class"})
	if err := reg.Register(responses); err != nil {
		return nil, err
	}
	for _, c := range classes {
		responses.WithLabelValues(c)
	}
	return &Metrics{responses: responses}, nil
}

// New returns a client. The transport is wrapped by otelhttp, so each call
// is a client span and carries traceparent to the Agent.
func New(cfg Config, tp trace.TracerProvider, prop propagation.TextMapPropagator, m *Metrics) *Client {
	base := *cfg.BaseURL
	base.Path = strings.TrimRight(base.Path, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxConns < 1 {
		cfg.MaxConns = 16
	}
	responses := m.responses
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.MaxConns
	transport.MaxConnsPerHost = cfg.MaxConns
	return &Client{
		base:  &base,
		token: cfg.Token,
		http: &http.Client{
			Timeout: cfg.Timeout,
			Transport: otelhttp.NewTransport(transport,
				otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
				otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "POST /users/{uid}" })),
		},
		responses: responses,
	}
}

type createRequest struct {
	UID      string `json:"uid"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// CreateUser posts the user. 200, 201 and 409 are success; any other 4xx
// except 429 is permanent; 5xx, 429, timeouts and connection errors are
// temporary.
func (c *Client) CreateUser(ctx context.Context, u events.User) error {
	body, err := json.Marshal(createRequest{UID: u.UID, Username: u.Username, Email: u.Email})
	if err != nil {
		return notify.Permanent(err)
	}
	endpoint := c.base.JoinPath("users", u.UID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(fmt.Errorf("agent request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Service-Token", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		c.responses.WithLabelValues("error").Inc()
		// The URL is safe to report (base and uid); the token is in a header.
		return fmt.Errorf("agent call: %w", err)
	}
	// Drain a little so the connection can be reused; the body is not needed.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		c.responses.WithLabelValues("2xx").Inc()
	case code >= 400 && code < 500:
		c.responses.WithLabelValues("4xx").Inc()
	case code >= 500 && code < 600:
		c.responses.WithLabelValues("5xx").Inc()
	default:
		c.responses.WithLabelValues("error").Inc()
	}
	switch {
	case code == http.StatusOK, code == http.StatusCreated, code == http.StatusConflict:
		return nil
	case code == http.StatusTooManyRequests, code >= 500:
		return fmt.Errorf("agent answered %d", code)
	case code >= 400:
		return notify.Permanent(fmt.Errorf("agent answered %d", code))
	default:
		// 1xx/3xx or an unexpected 2xx: not what the contract promises; retry
		// rather than lose the user.
		return fmt.Errorf("agent answered unexpected %d", code)
	}
}
