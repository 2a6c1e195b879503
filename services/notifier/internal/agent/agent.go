// Package agent keeps users in step in the Kairos Agent: POST (create),
// PATCH (email change) and DELETE {base}/users/{uid}, with X-Service-Token
// and a JSON body. Each call is idempotent by uid on the Agent's side, so
// retrying it is always safe.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
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
				otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " /users/{uid}" })),
		},
		responses: responses,
	}
}

type userBody struct {
	UID      string `json:"uid,omitempty"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// CreateUser posts the user. 200, 201 and 409 are success; any other 4xx
// except 429 is permanent; 5xx, 429, timeouts and connection errors are
// temporary.
func (c *Client) CreateUser(ctx context.Context, u events.User) error {
	return c.call(ctx, http.MethodPost, u.UID, userBody{UID: u.UID, Username: u.Username, Email: u.Email},
		http.StatusOK, http.StatusCreated, http.StatusConflict)
}

// UpdateUser patches the user's email and username (PATCH /users/{uid}).
// 200 and 204 are success; the other statuses as for CreateUser, so a 404
// (the creation not yet through) is dead-lettered for a replay.
func (c *Client) UpdateUser(ctx context.Context, u events.User) error {
	return c.call(ctx, http.MethodPatch, u.UID, userBody{Username: u.Username, Email: u.Email},
		http.StatusOK, http.StatusNoContent)
}

// DeleteUser deletes the user (DELETE /users/{uid}). 200, 204 and 404 (gone
// already: a retry after a lost answer) are success.
func (c *Client) DeleteUser(ctx context.Context, uid string) error {
	return c.call(ctx, http.MethodDelete, uid, nil, http.StatusOK, http.StatusNoContent, http.StatusNotFound)
}

// call makes one Agent request; the codes listed in done are success.
func (c *Client) call(ctx context.Context, method, uid string, payload any, done ...int) error {
	var body io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return notify.Permanent(err)
		}
		body = bytes.NewReader(b)
	}
	endpoint := c.base.JoinPath("users", uid)
	req, err := http.NewRequestWithContext(ctx, method, endpoint.String(), body)
	if err != nil {
		return notify.Permanent(fmt.Errorf("agent request: %w", err))
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
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
	case slices.Contains(done, code):
		return nil
	case code == http.StatusTooManyRequests, code >= 500:
		return fmt.Errorf("agent answered %d to %s", code, method)
	case code >= 400:
		return notify.Permanent(fmt.Errorf("agent answered %d to %s", code, method))
	default:
		// 1xx/3xx or an unexpected 2xx: not what the contract promises; retry
		// rather than lose the change.
		return fmt.Errorf("agent answered unexpected %d to %s", code, method)
	}
}
