package revocation_test

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
)

func TestMetrics(t *testing.T) {
	l := revocation.New(hold)
	now := t0
	reg := prometheus.NewRegistry()
	if err := revocation.RegisterMetrics(reg, l, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no %s", name)
		return 0
	}
	if lag := gauge("kairos_revocation_feed_lag_seconds"); !math.IsInf(lag, 1) {
		t.Fatalf("lag before the replay = %v, want +Inf", lag)
	}
	l.Heard(t0)
	now = t0.Add(2500 * time.Millisecond)
	l.Apply(rev("u", t0, sidAt(t, t0)), t0)
	if lag, n := gauge("kairos_revocation_feed_lag_seconds"), gauge("kairos_revocation_denylist_entries"); lag != 2.5 || n != 1 {
		t.Fatalf("lag %v, entries %v; want 2.5 and 1", lag, n)
	}
}
