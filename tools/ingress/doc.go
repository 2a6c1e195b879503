// Package ingress proves the Agent's header contract against a real proxy:
// its test runs Debian's nginx with auth_request configured the way
// ingress-nginx renders the auth-url and auth-response-headers annotations,
// in front of a fake Agent, with the real auth-api (built binary, real
// PostgreSQL, in-process JetStream) answering /api/auth/check. The Agent
// trusts X-User-ID; the test shows that the only X-User-ID it ever sees is
// the one the check set for a live session's token.
package ingress
