package lifecycle

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one named readiness condition: nil when the service can do that
// part of its work now.
type Check struct {
	Name  string
	Ready func(context.Context) error
}

// admin is the operations port: liveness, readiness, metrics and pprof on
// its own mux (never http.DefaultServeMux).
type admin struct {
	checks   []Check
	gatherer prometheus.Gatherer
	api      http.Handler // under /admin/, when set
	draining atomic.Bool
}

// checkTimeout bounds all checks of one /readyz, so a hung dependency makes
// the probe fail rather than hang.
const checkTimeout = 2 * time.Second

func (a *admin) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok", "")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "draining", "")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		for _, c := range a.checks {
			if err := c.Ready(ctx); err != nil {
				writeStatus(w, http.StatusServiceUnavailable, "not ready", c.Name+": "+err.Error())
				return
			}
		}
		writeStatus(w, http.StatusOK, "ready", "")
	})
	gatherer := a.gatherer
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if a.api != nil {
		mux.Handle("/admin/", a.api)
	}
	return mux
}

func writeStatus(w http.ResponseWriter, code int, status, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	body := map[string]string{"status": status}
	if reason != "" {
		body["reason"] = reason
	}
	_ = json.NewEncoder(w).Encode(body)
}
