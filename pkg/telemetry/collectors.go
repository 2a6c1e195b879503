package telemetry

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterNATS exports kairos_nats_connected (1 while the connection is up).
func RegisterNATS(reg prometheus.Registerer, nc *nats.Conn) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kairos_nats_connected",
		Help: "1 while the NATS connection is established, 0 while it is down or reconnecting.",
	}, func() float64 {
		if nc.IsConnected() {
			return 1
		}
		return 0
	}))
}

// RegisterPgxPool exports the pool's statistics as kairos_db_pool_* series.
func RegisterPgxPool(reg prometheus.Registerer, pool *pgxpool.Pool) error {
	return reg.Register(poolCollector{pool: pool,
		conns:      prometheus.NewDesc("kairos_db_pool_connections", "Connections in the pool by state.", []string{"state"}, nil),
		max:        prometheus.NewDesc("kairos_db_pool_max_connections", "Configured maximum pool size.", nil, nil),
		acquires:   prometheus.NewDesc("kairos_db_pool_acquires_total", "Connections acquired from the pool.", nil, nil),
		empty:      prometheus.NewDesc("kairos_db_pool_empty_acquires_total", "Acquires that had to wait because the pool was empty.", nil, nil),
		waitSecond: prometheus.NewDesc("kairos_db_pool_acquire_wait_seconds_total", "Total time spent waiting for a connection.", nil, nil),
	})
}

type poolCollector struct {
	pool                                    *pgxpool.Pool
	conns, max, acquires, empty, waitSecond *prometheus.Desc
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.max
	ch <- c.acquires
	ch <- c.empty
	ch <- c.waitSecond
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.empty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitSecond, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
