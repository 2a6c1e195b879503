package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

type ctxKey int

const (
	infoKey ctxKey = iota
	pathKey
)

// requestInfo is filled in as the request travels inwards (route, request
// id) and read by observe on the way out.
type requestInfo struct {
	id    string
	route string
	quiet bool // a refusal or a check: counted, not logged one by one
}

func requestID(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// recorder remembers the status written through it.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe sets the headers every response carries, assigns the request id,
// turns a panic into a JSON 500, and on the way out writes the one log line
// and the duration histogram of the request. It logs the route template,
// never the raw path: a verify path contains a token.
func observe(log *slog.Logger, m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()

		info := &requestInfo{id: incomingRequestID(r), route: "unmatched"}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Request-Id", info.id)
		rec := &recorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey, info))

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic serving request", "request_id", info.id,
					"route", info.route, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError, internalError)
				}
			}
			d := time.Since(start)
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			m.duration.WithLabelValues(methodLabel(r.Method), info.route, strconv.Itoa(code)).Observe(d.Seconds())
			if info.quiet {
				return
			}
			log.InfoContext(r.Context(), "request", "method", r.Method, "route", info.route,
				"status", code, "duration", d, "request_id", info.id)
		}()
		next.ServeHTTP(rec, r)
	})
}

// incomingRequestID keeps a caller's (e.g. the ingress's) request id when it
// is short and plain, and makes one otherwise.
func incomingRequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && strings.Trim(id,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return id
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tagRoute runs inside the router, once a route matched: it records the
// route template for the log line and the metrics, and names the span after
// it the OpenTelemetry way: "{method} {route}".
func tagRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if tmpl, err := route.GetPathTemplate(); err == nil {
				if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
					info.route = tmpl
				}
				span := trace.SpanFromContext(r.Context())
				span.SetName(r.Method + " " + tmpl)
				span.SetAttributes(attribute.String("http.route", tmpl))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withTrailingSlash makes the trailing slash optional on every path: the
// routes are declared with it, as the seed's were.
func withTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/") && !wellKnown(r.URL.Path) {
			u := *r.URL
			u.Path += "/"
			u.RawPath = ""
			r2 := *r
			r2.URL = &u
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// wellKnown: RFC 8615 paths are exact names, without the slash the other
// routes take optionally.
func wellKnown(path string) bool { return strings.HasPrefix(path, "/.well-known/") }

// shownRoute is a route template and the router's own pattern for its path
// (nil for a template without variables, which is compared as a string:
// no regexp per request and route where none is needed).
type shownRoute struct {
	template string
	path     *regexp.Regexp
}

func (s shownRoute) matches(p string) bool {
	if s.path == nil {
		return p == s.template
	}
	return s.path.MatchString(p)
}

// shownRoutes lists the router's routes in the order it tries them, so that
// hideToken knows every route without a second list to keep in step.
func shownRoutes(r *mux.Router) ([]shownRoute, error) {
	var routes []shownRoute
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		pattern, err := route.GetPathRegexp()
		if err != nil {
			return err
		}
		if !strings.Contains(tmpl, "{") {
			routes = append(routes, shownRoute{template: tmpl})
			return nil
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return err
		}
		routes = append(routes, shownRoute{template: tmpl, path: re})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("http routes: %w", err)
	}
	return routes, nil
}

// hideToken and restorePath keep secrets out of spans: otelhttp records the
// request path, and a verify path carries a token (an unknown path may carry
// anything). So otelhttp is shown the template of the route the path
// matches, a placeholder when none does, and the real URL is put back for
// the router.
func hideToken(routes []shownRoute, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shown := "/{unmatched}"
		p := r.URL.Path
		if !wellKnown(p) {
			p = strings.TrimSuffix(p, "/") + "/" // as withTrailingSlash will
		}
		for _, route := range routes {
			if route.matches(p) {
				shown = route.template
				break
			}
		}
		u := *r.URL
		u.Path, u.RawPath, u.RawQuery = shown, "", ""
		r2 := r.WithContext(context.WithValue(r.Context(), pathKey, r.URL))
		r2.URL = &u
		r2.RequestURI = shown
		next.ServeHTTP(w, r2)
	})
}

func restorePath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if orig, ok := r.Context().Value(pathKey).(*url.URL); ok {
			r2 := *r
			r2.URL = orig
			r2.RequestURI = orig.RequestURI()
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}
