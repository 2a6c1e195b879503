package main

import (
	"strings"
	"testing"
	"time"
)

func TestPredictLogins(t *testing.T) {
	cases := []struct {
		name          string
		hash          time.Duration
		cores         float64
		wantMin, want float64 // prediction within [wantMin, want]
	}{
		{"no hash measured", 0, 2, 0, 0},
		// 30 ms a hash: ×1.14 + 3 ms = 37.2 ms a login.
		{"this machine", 30 * time.Millisecond, 2, 53.5, 54},
		{"half the cores, half the logins", 30 * time.Millisecond, 1, 26.75, 27},
		// The extra cost is per login, so it weighs more as the hash gets cheaper.
		{"cheap hashes", time.Millisecond, 2, 450, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := predictLogins(tc.hash, tc.cores)
			if got < tc.wantMin || got > tc.want {
				t.Errorf("predictLogins(%s, %v) = %.2f, want in [%v, %v]", tc.hash, tc.cores, got, tc.wantMin, tc.want)
			}
			if tc.hash > 0 && got >= tc.cores/tc.hash.Seconds() {
				t.Errorf("predicts more logins than the cores can hash: %.1f", got)
			}
		})
	}
}

func TestCapacityFloor(t *testing.T) {
	rep := report{Scenarios: []scenario{
		{Name: "capacity: login, 1 auth-api replica(s)", Throughput: 50, Extra: map[string]any{"predicted_per_s": 52.0, "predicted_on_cpu_got_per_s": 50.0}},
		{Name: "capacity: login, 2 auth-api replica(s)", Throughput: 40, Extra: map[string]any{"predicted_per_s": 52.0, "predicted_on_cpu_got_per_s": 38.0}},
		{Name: "login: right password", Throughput: 50},
	}}
	got := capacityFloor(rep)
	if len(got) != 4 {
		t.Fatalf("%d floors, want two per capacity run: %+v", len(got), got)
	}
	for i, want := range []bool{true, true, true, false} {
		if got[i].Pass != want {
			t.Errorf("%s: %s: pass %v, want %v", got[i].Floor, got[i].Measured, got[i].Pass, want)
		}
	}
	if !strings.Contains(got[3].Measured, "0.77") {
		t.Errorf("ratio not shown: %s", got[3].Measured)
	}
}
