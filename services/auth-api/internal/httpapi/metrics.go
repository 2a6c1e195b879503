package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	held     prometheus.Gauge

	signups, logins, verifications, resends results

	// Sessions: tokens issued by grant (login, refresh), refreshes and
	// ingress checks by outcome, and the other session endpoints.
	issued            *prometheus.CounterVec
	refreshes, checks results
	me, logouts       results
	sessions, sessDel results
	jwks, discovery   results
	forgots, resets   results
	// Authenticated account changes and the email confirmation link.
	pwChanges, emailChanges, emailConfirms, deletions results
}

// results is a counter whose label values are a fixed set; anything else is
// counted as "error" so that the label stays bounded. Each value's series is
// resolved once: counting is a map lookup and an atomic add, not a hash of
// the label values per request (the ingress check counts thousands a second).
type results struct {
	byValue map[string]prometheus.Counter
}

func newResults(vec *prometheus.CounterVec, values []string) results {
	r := results{byValue: make(map[string]prometheus.Counter, len(values))}
	for _, v := range values {
		r.byValue[v] = vec.WithLabelValues(v) // the series exists before the first event
	}
	return r
}

func (r results) inc(result string) {
	c, ok := r.byValue[result]
	if !ok {
		c = r.byValue["error"]
	}
	c.Inc()
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Duration of HTTP requests by method, route template and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_server_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_http_refusals_held",
			Help: "Refused requests (429/503) held before their answer, so that clients ignoring Retry-After cannot spin.",
		}),
	}
	m.issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_access_tokens_issued_total", Help: "Access tokens issued, by grant (login, refresh).",
	}, []string{"grant"})
	m.issued.WithLabelValues("login")
	m.issued.WithLabelValues("refresh")
	cs := []prometheus.Collector{m.duration, m.inFlight, m.held, m.issued}
	for _, c := range []struct {
		dst    *results
		name   string
		help   string
		values []string
	}{
		// The result sets are the metrics contract (docs/auth-api.md).
		{&m.signups, "kairos_signups_total", "Signup requests by result (duplicate: an existing address, answered like ok).",
			[]string{"ok", "duplicate", "invalid", "rate_limited", "overloaded", "client_closed", "error"}},
		{&m.logins, "kairos_logins_total", "Login requests by result.",
			[]string{"ok", "invalid_credentials", "unverified", "locked", "rate_limited", "invalid", "overloaded", "client_closed", "error"}},
		{&m.verifications, "kairos_verifications_total", "Verification link requests by result.",
			[]string{"ok", "already_verified", "invalid", "expired", "rate_limited", "client_closed", "error"}},
		{&m.resends, "kairos_verification_resends_total", "Verification resend requests by result.",
			[]string{"ok", "invalid", "rate_limited", "client_closed", "error"}},
		{&m.forgots, "kairos_password_forgot_total", "Forgot-password requests by result (unknown addresses answered and counted like ok).",
			[]string{"ok", "invalid", "rate_limited", "client_closed", "error"}},
		{&m.resets, "kairos_password_resets_total", "Password reset requests by result.",
			[]string{"ok", "page", "invalid", "rate_limited", "overloaded", "client_closed", "error"}},
		{&m.pwChanges, "kairos_password_changes_total", "Password change requests by result.",
			[]string{"ok", "invalid", "expired", "revoked", "locked", "rate_limited", "overloaded", "unavailable", "client_closed", "error"}},
		{&m.emailChanges, "kairos_email_change_requests_total", "Email change requests by result (a taken address answered and counted like ok).",
			[]string{"ok", "invalid", "expired", "revoked", "locked", "rate_limited", "overloaded", "unavailable", "client_closed", "error"}},
		{&m.emailConfirms, "kairos_email_change_confirmations_total", "Email change confirmation links by result.",
			[]string{"ok", "invalid", "rate_limited", "client_closed", "error"}},
		{&m.deletions, "kairos_account_deletions_total", "Account deletion requests by result.",
			[]string{"ok", "invalid", "expired", "revoked", "locked", "rate_limited", "overloaded", "unavailable", "client_closed", "error"}},
		{&m.refreshes, "kairos_token_refreshes_total", "Refresh-token presentations by outcome.",
			[]string{"rotated", "grace_retry", "reuse_revoked", "expired", "invalid", "rate_limited", "client_closed", "error"}},
		{&m.checks, "kairos_auth_checks_total", "Ingress checks (GET /api/auth/check) by outcome; ok_db: vouched for by PostgreSQL while the revocation feed was stale.",
			[]string{"ok", "ok_db", "invalid", "expired", "revoked", "unavailable", "client_closed", "error"}},
	} {
		vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: c.name, Help: c.help}, []string{"result"})
		*c.dst = newResults(vec, c.values)
		cs = append(cs, vec)
	}
	// The other session endpoints share one counter, by endpoint.
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_session_requests_total", Help: "Requests to the session endpoints by endpoint and result.",
	}, []string{"endpoint", "result"})
	for _, e := range []struct {
		dst  *results
		name string
	}{{&m.me, "me"}, {&m.logouts, "logout"}, {&m.sessions, "sessions"}, {&m.sessDel, "session_delete"}, {&m.jwks, "jwks"}, {&m.discovery, "discovery"}} {
		curried := vec.MustCurryWith(prometheus.Labels{"endpoint": e.name})
		*e.dst = newResults(curried, []string{"ok", "invalid", "expired", "revoked", "not_found", "rate_limited", "unavailable", "error"})
	}
	cs = append(cs, vec)
	if reg != nil {
		for _, c := range cs {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("http metrics: %w", err)
			}
		}
	}
	return m, nil
}

// methodLabel keeps the method label bounded whatever clients send.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}
