// Package e2e holds the observability tests that need the real services:
// they build bin/auth-api and bin/notifier, run them as processes against a
// fresh PostgreSQL database, an in-process JetStream, an SMTP sink and a fake
// Agent, and check what operators rely on — every metric a dashboard or alert
// uses exists, one signup is one trace across both services and the Agent,
// and no secret reaches a log line or a span. The static checks of the
// dashboards and rules (parse, data source variable, metric names against the
// contract) run without the services.
package e2e
