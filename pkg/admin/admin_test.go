package admin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/admin"
)

func TestAdminRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
	reg.MustRegister(c)
	var readyErr error
	s := admin.New(reg, func(context.Context) error { return readyErr })
	h := s.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	steps := []struct {
		name     string
		before   func()
		path     string
		wantCode int
		wantBody string
	}{
		{"alive", nil, "/healthz", 200, `"ok"`},
		{"ready", nil, "/readyz", 200, `"ready"`},
		{"dependency down", func() { readyErr = errors.New("postgres: connection refused") }, "/readyz", 503, "connection refused"},
		{"still alive", nil, "/healthz", 200, `"ok"`},
		{"draining wins over ready", func() { readyErr = nil; s.Drain() }, "/readyz", 503, `"draining"`},
		{"metrics", nil, "/metrics", 200, "x_total 0"},
		{"pprof", nil, "/debug/pprof/", 200, "goroutine"},
		{"unknown", nil, "/nope", 404, ""},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		code, body := get(st.path)
		if code != st.wantCode || !strings.Contains(body, st.wantBody) {
			t.Errorf("%s: GET %s = %d %q, want %d containing %q", st.name, st.path, code, body, st.wantCode, st.wantBody)
		}
	}
}
