package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/services/notifier/internal/consumer"
)

const dlqUsage = "usage: notifier dlq list | notifier dlq replay (--all | ID...)"

// runDLQ implements `notifier dlq list` and `notifier dlq replay`.
func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") || (args[0] == "list" && len(args) > 1) {
		return errors.New(dlqUsage)
	}
	ids, all, err := replayArgs(args[1:])
	if args[0] == "replay" && err != nil {
		return err
	}
	cfg, err := loadNATSConfig(getenv)
	if err != nil {
		return err
	}
	// One-shot: fail fast instead of reconnecting forever.
	nc, err := nats.Connect(cfg.NATSURL, append(natsx.AuthOptions(cfg.NATSAuth), nats.Name("kairos-notifier-dlq"), nats.CustomInboxPrefix(inboxPrefix), nats.Timeout(5*time.Second))...)
	if err != nil {
		return fmt.Errorf("NATS_URL: cannot connect to %s: %w", natsx.Redact(cfg.NATSURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if args[0] == "list" {
		return consumer.List(ctx, js, stdout)
	}
	return consumer.Replay(ctx, js, ids, all, stdout)
}

// replayArgs is either --all or a list of dead-letter ids.
func replayArgs(args []string) (ids []uint64, all bool, err error) {
	for _, a := range args {
		if a == "--all" || a == "-all" {
			all = true
			continue
		}
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil || id == 0 {
			return nil, false, fmt.Errorf("dlq replay: %q is not a dead-letter id (see notifier dlq list); %s", a, dlqUsage)
		}
		ids = append(ids, id)
	}
	if all == (len(ids) > 0) {
		return nil, false, fmt.Errorf("dlq replay: give --all or IDs, not both or neither; %s", dlqUsage)
	}
	return ids, all, nil
}
