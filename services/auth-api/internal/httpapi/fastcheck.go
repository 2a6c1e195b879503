package httpapi

import (
	"net/http"
	"strings"
)

// The ingress check is asked on every request an ingress forwards, so it
// takes a short way through the server when it can: observe (headers,
// request id, panic recovery, in-flight gauge, duration histogram) around
// the check itself, without the router, CORS, the span and the path
// redaction the other routes need.
//
// A check that carries trace context (a traceparent header: the ingress is
// tracing this request) takes the ordinary way instead, so its span joins
// the caller's trace; one without gets no span. The caller's sampling thus
// decides, and a check traced by nobody does not start a root span of its
// own thousands of times a second. No check is logged one by one (quiet):
// the outcomes are counted in kairos_auth_checks_total, and a failure of
// the service itself is still logged by fail.

const (
	routeCheck          = "/api/auth/check/"
	routeCheckForwarded = "/api/auth/check/{forwarded:.+}" // Envoy's ext_authz appends the client's path
)

// isCheckPath reports whether the router would send path to the check: the
// two check routes, the trailing slash optional.
func isCheckPath(path string) bool {
	return path == "/api/auth/check" || strings.HasPrefix(path, routeCheck)
}

func traced(r *http.Request) bool { return r.Header.Get("Traceparent") != "" }

// fastCheck sends untraced checks to check and everything else to next.
func fastCheck(check, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCheckPath(r.URL.Path) && !traced(r) {
			check.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkRoute names the route of a check served by the short way, as
// tagRoute does for the router's.
func checkRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.route = routeCheck
			if r.URL.Path != "/api/auth/check" && r.URL.Path != routeCheck {
				info.route = routeCheckForwarded
			}
		}
		next.ServeHTTP(w, r)
	})
}

// skipForCheck serves checks with plain and everything else with wrapped:
// CORS is for browsers calling the API, and a CORS preflight answered 204
// by the check would read as "allowed" to an ext_authz proxy that passes
// the client's method.
func skipForCheck(plain, wrapped http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCheckPath(r.URL.Path) {
			plain.ServeHTTP(w, r)
			return
		}
		wrapped.ServeHTTP(w, r)
	})
}
