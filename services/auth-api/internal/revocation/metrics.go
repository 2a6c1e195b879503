package revocation

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics exports the deny-list's size and how long ago the feed
// was last known current (+Inf until the start-up replay has finished).
func RegisterMetrics(reg prometheus.Registerer, l *List, now func() time.Time) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kairos_revocation_denylist_entries",
			Help: "Revoked sessions and per-user cut-offs held in this replica's deny-list.",
		}, func() float64 { return float64(l.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kairos_revocation_feed_lag_seconds",
			Help: "Seconds since this replica's revocation feed was last known current.",
		}, func() float64 {
			t := l.LastHeard()
			if t.IsZero() {
				return math.Inf(1)
			}
			return now().Sub(t).Seconds()
		}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("revocation metrics: %w", err)
		}
	}
	return nil
}
