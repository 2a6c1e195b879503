package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/pkg/natsx"
)

// Before a timed scenario the system is let settle: the previous scenario
// leaves work behind that is not the next one's (the notifier draining the
// mails of a signup burst, autovacuum after 47,000 verifications, the relay
// publishing the last outbox rows), and on two shared cores that work takes
// its CPU from the scenario being measured. A full run measured login at
// 75 % of the argon2id ceiling right after the verify scenario and at 89 %
// when run alone: the difference was the previous scenario, not login.

// settleQuiet is the machine's busy share below which it counts as quiet:
// a few percent for the idle services, PostgreSQL and the desktop of the host.
const settleQuiet = 0.12

// settleMax bounds the wait; a machine busy with something else is measured
// as it is, and the wait says so.
const settleMax = time.Minute

// settle vacuums the database (so autovacuum has nothing to start during
// the scenario), waits for the outbox to empty and then for two successive
// half-second windows in which the whole machine is quiet. It returns how
// long that took and whether the machine became quiet.
func (r *runner) settle(ctx context.Context) (time.Duration, bool) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, settleMax)
	defer cancel()
	if err := vacuum(ctx, r.st.PG.DatabaseURL); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "loadtest: settle: %v\n", err)
	}
	for ctx.Err() == nil {
		if v, err := scrape(ctx, r.st.Auth[0].AdminURL(), "kairos_outbox_pending"); err != nil || v == 0 {
			break
		}
		_ = natsx.Sleep(ctx, 250*time.Millisecond)
	}
	quiet := 0
	for quiet < 2 && ctx.Err() == nil {
		busy, err := machineBusy(ctx, 500*time.Millisecond)
		if err != nil {
			return time.Since(start), false
		}
		if busy < settleQuiet {
			quiet++
		} else {
			quiet = 0
		}
	}
	return time.Since(start), quiet >= 2
}

func vacuum(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "VACUUM (ANALYZE)")
	return err
}

// machineBusy is the share of all cores not idle over window, from /proc/stat.
func machineBusy(ctx context.Context, window time.Duration) (float64, error) {
	busy0, total0, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	_ = natsx.Sleep(ctx, window)
	busy1, total1, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	if total1 <= total0 {
		return 0, errors.New("/proc/stat: no time passed")
	}
	return float64(busy1-busy0) / float64(total1-total0), nil
}

// cpuTimes reads the aggregate line of /proc/stat: ticks not idle (idle and
// iowait are idle) and all ticks.
func cpuTimes() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, errors.New("/proc/stat: empty")
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", sc.Text())
	}
	var idle uint64
	for i, s := range fields[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		// guest and guest_nice (fields 9 and 10) are already in user and nice.
		if i >= 8 {
			break
		}
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return total - idle, total, nil
}

// note adds figures to the scenario's extras.
func (sc *scenario) note(m map[string]any) {
	if sc.Extra == nil {
		sc.Extra = map[string]any{}
	}
	maps.Copy(sc.Extra, m)
}

// noteSettled records what settling before the scenario took, and when the
// machine never got quiet, that too.
func (sc *scenario) noteSettled(waited time.Duration, quiet bool) {
	sc.note(map[string]any{"settled_s": round(waited.Seconds())})
	if !quiet {
		sc.note(map[string]any{"settled_quiet": false})
	}
}
