package e2e_test

// The metric contract (the observability brief, README "Metrics"): every
// name, its type, which service serves it, and the label values that must
// exist from the start (counters at 0), so that dashboards draw and alerts can
// fire before the first event.

const (
	authAPI  = "auth-api"
	notifier = "notifier"
	both     = "both"
)

type metricSpec struct {
	name    string
	kind    string // counter, gauge or histogram, as /metrics reports it
	service string // authAPI, notifier or both
	// precreated: every combination of these label values must match at
	// least one series right after start, before any traffic.
	precreated map[string][]string
	// values: the known values of further labels, which queries may match.
	values map[string][]string
}

// labelValues is every known value of label on the metric, nil when the
// contract does not bound it.
func (s metricSpec) labelValues(label string) []string {
	if v, ok := s.precreated[label]; ok {
		return v
	}
	return s.values[label]
}

var (
	signupResults       = []string{"ok", "duplicate", "invalid", "rate_limited", "overloaded", "error"}
	loginResults        = []string{"ok", "invalid_credentials", "unverified", "locked", "rate_limited", "invalid", "overloaded", "error"}
	verificationResults = []string{"ok", "already_verified", "invalid", "expired", "rate_limited", "error"}
	resendResults       = []string{"ok", "invalid", "rate_limited", "error"}
	subjects            = []string{"user.created", "user.verification_requested", "user.signup_duplicate", "user.login_attack_suspected",
		"user.password_reset_requested", "user.password_changed", "user.email_change_requested", "user.email_changed", "user.deleted"}
	forgotResults     = []string{"ok", "invalid", "rate_limited", "client_closed", "error"}
	resetResults      = []string{"ok", "page", "invalid", "rate_limited", "overloaded", "client_closed", "error"}
	accountResults    = []string{"ok", "invalid", "expired", "revoked", "locked", "rate_limited", "overloaded", "unavailable", "client_closed", "error"}
	confirmResults    = []string{"ok", "invalid", "rate_limited", "client_closed", "error"}
	budgetKinds       = []string{"signup", "resend", "forgot", "email_change"}
	refreshResults    = []string{"rotated", "grace_retry", "reuse_revoked", "expired", "invalid", "rate_limited", "error"}
	checkResults      = []string{"ok", "ok_db", "invalid", "expired", "revoked", "unavailable", "error"}
	sessionEndpoints  = []string{"me", "logout", "sessions", "session_delete", "jwks", "discovery"}
	sessionResults    = []string{"ok", "invalid", "expired", "revoked", "not_found", "rate_limited", "unavailable", "error"}
	consumers         = []string{"email", "agent"}
	messageResults    = []string{"ok", "retry", "dead_letter", "duplicate_skipped"}
	agentClasses      = []string{"2xx", "4xx", "5xx", "error"}
	deadLetterReasons = []string{"max_deliver", "permanent", "undecodable"}
)

var contract = []metricSpec{
	// Both services (pkg/telemetry).
	{name: "kairos_build_info", kind: "gauge", service: both, values: map[string][]string{"service": {authAPI, notifier}}},
	{name: "kairos_nats_connected", kind: "gauge", service: both},
	{name: "go_goroutines", kind: "gauge", service: both},
	{name: "process_cpu_seconds_total", kind: "counter", service: both},
	{name: "process_resident_memory_bytes", kind: "gauge", service: both},

	// auth-api: pgx pool (telemetry.RegisterPgxPool).
	{name: "kairos_db_pool_connections", kind: "gauge", service: authAPI, precreated: map[string][]string{"state": {"acquired", "idle", "constructing"}}},
	{name: "kairos_db_pool_max_connections", kind: "gauge", service: authAPI},
	{name: "kairos_db_pool_acquires_total", kind: "counter", service: authAPI},
	{name: "kairos_db_pool_empty_acquires_total", kind: "counter", service: authAPI},
	{name: "kairos_db_pool_acquire_wait_seconds_total", kind: "counter", service: authAPI},

	// auth-api: HTTP.
	{name: "http_server_request_duration_seconds", kind: "histogram", service: authAPI},
	{name: "http_server_requests_in_flight", kind: "gauge", service: authAPI},

	// auth-api: domain.
	{name: "kairos_signups_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": signupResults}},
	{name: "kairos_logins_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": loginResults}},
	{name: "kairos_verifications_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": verificationResults}},
	{name: "kairos_verification_resends_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": resendResults}},
	{name: "kairos_password_forgot_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": forgotResults}},
	{name: "kairos_password_resets_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": resetResults}},
	{name: "kairos_password_changes_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": accountResults}},
	{name: "kairos_email_change_requests_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": accountResults}},
	{name: "kairos_email_change_confirmations_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": confirmResults}},
	{name: "kairos_account_deletions_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": accountResults}},
	{name: "kairos_mail_budget_exceeded_total", kind: "counter", service: authAPI, precreated: map[string][]string{"kind": budgetKinds}},
	{name: "kairos_admin_actions_total", kind: "counter", service: authAPI, precreated: map[string][]string{
		"action":  {"list", "show", "audit", "verify", "resend_verification", "disable", "enable", "unlock", "sign_out", "delete"},
		"outcome": {"ok", "not_found", "refused", "invalid", "error"}}},
	{name: "kairos_admin_auth_failures_total", kind: "counter", service: authAPI, precreated: map[string][]string{"reason": {"missing", "invalid"}}},
	{name: "kairos_login_lockouts_total", kind: "counter", service: authAPI, precreated: map[string][]string{"kind": {"source", "device", "account"}}},
	{name: "kairos_password_hash_duration_seconds", kind: "histogram", service: authAPI, values: map[string][]string{"op": {"hash", "verify"}}},
	{name: "kairos_password_hash_wait_seconds", kind: "histogram", service: authAPI},
	{name: "kairos_password_hash_slot_timeouts_total", kind: "counter", service: authAPI, precreated: map[string][]string{}},

	// auth-api: sessions.
	{name: "kairos_access_tokens_issued_total", kind: "counter", service: authAPI, precreated: map[string][]string{"grant": {"login", "refresh"}}},
	{name: "kairos_token_refreshes_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": refreshResults}},
	{name: "kairos_auth_checks_total", kind: "counter", service: authAPI, precreated: map[string][]string{"result": checkResults}},
	{name: "kairos_session_requests_total", kind: "counter", service: authAPI, precreated: map[string][]string{"endpoint": sessionEndpoints, "result": sessionResults}},
	{name: "kairos_revocation_denylist_entries", kind: "gauge", service: authAPI, precreated: map[string][]string{}},
	{name: "kairos_revocation_feed_lag_seconds", kind: "gauge", service: authAPI, precreated: map[string][]string{}},

	// auth-api: outbox relay.
	{name: "kairos_outbox_pending", kind: "gauge", service: authAPI, precreated: map[string][]string{}},
	{name: "kairos_outbox_oldest_pending_age_seconds", kind: "gauge", service: authAPI, precreated: map[string][]string{}},
	{name: "kairos_outbox_published_total", kind: "counter", service: authAPI, precreated: map[string][]string{"subject": append([]string{"session.revoked"}, subjects...)}},
	{name: "kairos_outbox_publish_failures_total", kind: "counter", service: authAPI, precreated: map[string][]string{}},

	// notifier.
	{name: "kairos_notifier_messages_total", kind: "counter", service: notifier, precreated: map[string][]string{"consumer": consumers, "result": messageResults}, values: map[string][]string{"subject": append([]string{"unknown"}, subjects...)}},
	{name: "kairos_email_send_duration_seconds", kind: "histogram", service: notifier, values: map[string][]string{"template": {"verification", "duplicate_signup", "login_attack",
		"password_reset", "password_changed", "email_change_confirm", "email_change_notice", "goodbye"}}},
	{name: "kairos_agent_sync_duration_seconds", kind: "histogram", service: notifier},
	{name: "kairos_agent_responses_total", kind: "counter", service: notifier, precreated: map[string][]string{"class": agentClasses}},
	{name: "kairos_dead_letters_total", kind: "counter", service: notifier, precreated: map[string][]string{"consumer": consumers, "reason": deadLetterReasons}},
	{name: "kairos_consumer_pending_messages", kind: "gauge", service: notifier, precreated: map[string][]string{"consumer": consumers}},
	{name: "kairos_consumer_ack_pending_messages", kind: "gauge", service: notifier, precreated: map[string][]string{"consumer": consumers}},
	{name: "kairos_consumer_redelivered_messages", kind: "gauge", service: notifier, precreated: map[string][]string{"consumer": consumers}},
}

// synthetic are names Prometheus makes itself while scraping; no service
// serves them.
var synthetic = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

func contractByName() map[string]metricSpec {
	m := make(map[string]metricSpec, len(contract))
	for _, s := range contract {
		m[s.name] = s
	}
	return m
}

// combinations expands {"a": [1, 2], "b": [x]} into [{a:1 b:x} {a:2 b:x}].
// An empty map gives one empty combination (the unlabelled series).
func combinations(labels map[string][]string) []map[string]string {
	out := []map[string]string{{}}
	for name, values := range labels {
		var next []map[string]string
		for _, partial := range out {
			for _, v := range values {
				c := make(map[string]string, len(partial)+1)
				for k, pv := range partial {
					c[k] = pv
				}
				c[name] = v
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}
