package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process collectors
// and a kairos_build_info gauge, so every service exposes the same baseline.
func NewRegistry(service, version, commit string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kairos_build_info",
		Help: "Always 1; labels carry the running build's version and commit.",
	}, []string{"service", "version", "commit"})
	info.WithLabelValues(service, version, commit).Set(1)
	reg.MustRegister(info)
	return reg
}
