package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/lifecycle"
)

// listen is a listener on a free local port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// get returns the status and body of url ("" when the request fails).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startApp runs app until the test ends and returns Run's result channel.
func startApp(t *testing.T, ctx context.Context, app lifecycle.App) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- lifecycle.Run(ctx, app) }()
	return done
}

func TestAdminRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}))
	var natsDown atomic.Bool
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "admin api "+r.URL.Path) })
	done := startApp(t, ctx, lifecycle.App{Admin: ln, Gatherer: reg, AdminAPI: api, Checks: []lifecycle.Check{
		{Name: "postgres", Ready: func(context.Context) error { return nil }},
		{Name: "nats", Ready: func(context.Context) error {
			if natsDown.Load() {
				return errors.New("not connected")
			}
			return nil
		}},
	}})
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()

	steps := []struct {
		name     string
		before   func()
		path     string
		wantCode int
		wantBody string
	}{
		{"alive", nil, "/healthz", 200, `"ok"`},
		{"ready", nil, "/readyz", 200, `"ready"`},
		{"a check fails: its name is the reason", func() { natsDown.Store(true) }, "/readyz", 503, `"nats: not connected"`},
		{"still alive", nil, "/healthz", 200, `"ok"`},
		{"ready again", func() { natsDown.Store(false) }, "/readyz", 200, `"ready"`},
		{"metrics", nil, "/metrics", 200, "x_total 0"},
		{"pprof", nil, "/debug/pprof/", 200, "goroutine"},
		{"unknown", nil, "/nope", 404, ""},
		{"the admin API, under /admin/", nil, "/admin/v1/users", 200, "admin api /admin/v1/users"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		code, body := get(base + st.path)
		if code != st.wantCode || !strings.Contains(body, st.wantBody) {
			t.Errorf("%s: GET %s = %d %q, want %d containing %q", st.name, st.path, code, body, st.wantCode, st.wantBody)
		}
	}
}

// Probes that use HEAD get the status without a body; a wrong method is a
// 405 that names the methods the path takes.
func TestAdminMethods(t *testing.T) {
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := startApp(t, ctx, lifecycle.App{Admin: ln, Checks: []lifecycle.Check{
		{Name: "postgres", Ready: func(context.Context) error { return nil }},
	}})
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()

	tests := []struct {
		method, path string
		wantCode     int
		wantAllow    string
	}{
		{http.MethodHead, "/healthz", 200, ""},
		{http.MethodHead, "/readyz", 200, ""},
		{http.MethodHead, "/metrics", 200, ""},
		{http.MethodPost, "/healthz", 405, "GET, HEAD"},
		{http.MethodDelete, "/readyz", 405, "GET, HEAD"},
		{http.MethodPut, "/metrics", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || resp.Header.Get("Allow") != tt.wantAllow {
				t.Fatalf("%s %s = %d Allow %q, want %d Allow %q", tt.method, tt.path,
					resp.StatusCode, resp.Header.Get("Allow"), tt.wantCode, tt.wantAllow)
			}
			if tt.method == http.MethodHead && len(b) != 0 {
				t.Errorf("HEAD answered with a body: %q", b)
			}
		})
	}
}
