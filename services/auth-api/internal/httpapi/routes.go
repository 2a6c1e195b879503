// Package httpapi is auth-api's public HTTP API: the routes, their handlers,
// the middleware every request passes through, and the one mapping from
// errors to responses.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// routeVerify is the path of the link in verification emails.
const routeVerify = "/api/verify/{token}/"

// VerifyURL returns the builder of verification links under publicURL (the
// service's public base, with or without a trailing slash), for
// auth.Config: the domain writes links without knowing the route.
func VerifyURL(publicURL string) func(token string) string {
	base := strings.TrimRight(publicURL, "/")
	return func(token string) string {
		return base + strings.Replace(routeVerify, "{token}", url.PathEscape(token), 1)
	}
}

// Options configure the handler.
type Options struct {
	Auth   Auth
	Policy auth.Policy
	// Limiter limits requests per client IP; nil turns the limit off.
	Limiter  *IPLimiter
	ClientIP ClientIP
	// DeviceCookies signs the kairos_device cookie set after a login; nil:
	// none, every login counts by its network.
	DeviceCookies *DeviceCookies
	// CORSOrigins are the exact origins browsers may call the API from;
	// empty means no cross-origin access at all.
	CORSOrigins []string
	// VerifyRedirect, when set, is where browsers opening a verify link are
	// sent (303) with ?status=verified|already_verified|invalid.
	VerifyRedirect *url.URL
	// OverloadRetryAfter is the Retry-After of a 503 for want of a hashing slot.
	OverloadRetryAfter time.Duration
	// Gate admits signups and logins to password hashing before their body
	// is read (hashing.Hasher); nil admits everything.
	Gate Gate
	// RefusalHold is how long a refused request (429 from the per-IP limit,
	// 503 from the gate) is held before it is answered, for at most MaxHeld
	// requests at once (DefaultMaxHeld when 0); 0 answers at once.
	RefusalHold time.Duration
	MaxHeld     int
	// Now is the clock of the refusal summaries (time.Now when nil).
	Now func() time.Time

	// Sessions: the session rules, the bearer-token checker, the account
	// reads of signed-in users, and the public key documents with how long
	// gateways may cache them.
	Sessions       Sessions
	Checker        Checker
	Directory      Directory
	JWKS           []byte
	Discovery      []byte
	DocumentMaxAge time.Duration

	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	TracerProvider trace.TracerProvider
}

type api struct {
	auth          Auth
	policy        auth.Policy
	limiter       *IPLimiter
	clientIP      ClientIP
	devices       *DeviceCookies
	redirectURL   *url.URL
	overloadRetry time.Duration
	gate          Gate
	refusals      *refusals
	sessions      Sessions
	checker       Checker
	directory     Directory
	log           *slog.Logger
	metrics       *metrics
	pages         *pages
}

// New returns the public API handler.
func New(o Options) (http.Handler, error) {
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	a := &api{pages: pg, auth: o.Auth, policy: o.Policy, limiter: o.Limiter, clientIP: o.ClientIP, devices: o.DeviceCookies,
		redirectURL: o.VerifyRedirect, overloadRetry: o.OverloadRetryAfter, gate: o.Gate,
		refusals: newRefusals(o.Logger, o.Now, o.RefusalHold, o.MaxHeld, m.held), log: o.Logger, metrics: m,
		sessions: o.Sessions, checker: o.Checker, directory: o.Directory}

	// Every route, declared with its trailing slash (optional for clients).
	// resend comes before {token} so that it is not taken for a token.
	r := mux.NewRouter()
	r.SkipClean(true) // no 301s to "cleaned" paths: an odd path is a 404
	r.Use(tagRoute)
	r.Handle("/api/signup/", a.endpoint(m.signups, a.admitted(a.handleSignup))).Methods(http.MethodPost)
	r.Handle("/api/login/", a.endpoint(m.logins, a.admitted(a.handleLogin))).Methods(http.MethodPost)
	r.Handle("/api/verify/resend/", a.endpoint(m.resends, a.handleResend)).Methods(http.MethodPost)
	r.Handle(routeVerify, a.endpoint(m.verifications, a.handleVerify)).Methods(http.MethodGet)
	r.Handle(routeForgot, a.endpoint(m.forgots, a.handleForgot)).Methods(http.MethodPost)
	r.Handle(routeReset, a.endpoint(m.resets, a.admitted(a.handleReset))).Methods(http.MethodPost)
	r.Handle(routeResetPage, a.endpoint(m.resets, a.handleResetPage)).Methods(http.MethodGet)
	r.Handle(routePasswordChange, a.endpoint(m.pwChanges, a.admitted(a.handlePasswordChange))).Methods(http.MethodPost)
	r.Handle(routeEmailChange, a.endpoint(m.emailChanges, a.admitted(a.handleEmailChange))).Methods(http.MethodPost)
	r.Handle(routeEmailConfirm, a.endpoint(m.emailConfirms, a.handleEmailConfirm)).Methods(http.MethodGet)
	r.Handle("/api/token/refresh/", a.endpoint(m.refreshes, a.handleRefresh)).Methods(http.MethodPost)
	r.Handle("/api/logout/", a.endpoint(m.logouts, a.handleLogout)).Methods(http.MethodPost)
	r.Handle("/api/me/", a.endpoint(m.me, a.handleMe)).Methods(http.MethodGet)
	r.Handle("/api/me/", a.endpoint(m.deletions, a.admitted(a.handleDeleteMe))).Methods(http.MethodDelete)
	r.Handle("/api/sessions/", a.endpoint(m.sessions, a.handleSessions)).Methods(http.MethodGet)
	r.Handle("/api/sessions/{id}/", a.endpoint(m.sessDel, a.handleDeleteSession)).Methods(http.MethodDelete)
	// Not limited per IP: an ingress calls the check from a few addresses
	// on behalf of all its clients, and a check costs one signature
	// verification. Any method: auth_request and ext_authz pass the
	// client's on.
	// Most checks take the short way (fastcheck.go); these routes serve
	// the traced ones.
	check := a.unlimited(m.checks, a.handleCheck)
	r.Handle(routeCheck, check)
	r.Handle(routeCheckForwarded, check)
	r.Handle(pathJWKS, a.unlimited(m.jwks, publicDocument(o.JWKS, o.DocumentMaxAge))).Methods(http.MethodGet)
	r.Handle("/.well-known/openid-configuration", a.unlimited(m.discovery, publicDocument(o.Discovery, o.DocumentMaxAge))).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.fail(w, r, errNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", allowedMethods(r, req))
		a.fail(w, req, errMethod(req.Method))
	})

	shown, err := shownRoutes(r)
	if err != nil {
		return nil, err
	}

	var h http.Handler = withTrailingSlash(r)
	if len(o.CORSOrigins) > 0 {
		// Exact origins only, never "*": credentials are allowed so that a
		// frontend on another origin can send the device cookie
		// (credentials: "include"), which is useless anywhere but login.
		h = skipForCheck(h, cors.New(cors.Options{
			AllowedOrigins:   o.CORSOrigins,
			AllowCredentials: true,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodDelete},
			AllowedHeaders:   []string{"Content-Type", "Authorization"},
			MaxAge:           600,
		}).Handler(h))
	}
	h = observe(o.Logger, m, h)
	h = restorePath(h)
	h = otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(o.TracerProvider),
		otelhttp.WithPropagators(otel.GetTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
	return fastCheck(observe(o.Logger, m, checkRoute(check)), hideToken(shown, h)), nil
}

// allowedMethods is the Allow header of a 405: the methods some route
// would accept for req's path. gorilla/mux does not tell, so each method is
// tried against the router (only on the 405 path, so the cost is moot).
func allowedMethods(router *mux.Router, req *http.Request) string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		try := req.Clone(req.Context())
		try.Method = m
		var match mux.RouteMatch
		if router.Match(try, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}
