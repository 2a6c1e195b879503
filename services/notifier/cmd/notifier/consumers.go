package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/pkg/lifecycle"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/services/notifier/internal/consumer"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

// pipeline is one durable consumer: its subjects and handler, and the
// consumer itself once the streams exist (readiness reads it meanwhile).
type pipeline struct {
	name     string
	subjects []string
	handler  notify.Handler
	consumer atomic.Pointer[consumer.Consumer]
}

// consumers is the worker that sets up JetStream and runs every pipeline.
type consumers struct {
	cfg     config
	js      jetstream.JetStream
	pipes   []*pipeline
	log     *slog.Logger
	tp      trace.TracerProvider
	prop    propagation.TextMapPropagator
	metrics *consumer.Metrics
}

func newConsumers(cfg config, js jetstream.JetStream, pipes []*pipeline, log *slog.Logger,
	tp trace.TracerProvider, prop propagation.TextMapPropagator, reg prometheus.Registerer) (*consumers, error) {
	subjects := map[string][]string{"email": notify.EmailSubjects, "agent": notify.AgentSubjects}
	m, err := consumer.NewMetrics(reg, subjects)
	if err != nil {
		return nil, err
	}
	return &consumers{cfg: cfg, js: js, pipes: pipes, log: log, tp: tp, prop: prop, metrics: m}, nil
}

// run waits for JetStream (NATS may be down at start), then consumes with
// every pipeline until ctx ends. Messages in flight then finish with the
// runner's in-flight context, or are handed back when it ends.
func (cs *consumers) run(ctx context.Context) error {
	kv, err := natsx.Retry(ctx, cs.log, "set up JetStream", func(ctx context.Context) (jetstream.KeyValue, error) {
		return consumer.Ensure(ctx, cs.js, cs.cfg.NATSReplicas, cs.cfg.EventRetention)
	})
	if err != nil {
		return nil // stopped before NATS answered
	}
	var wg sync.WaitGroup
	for _, p := range cs.pipes {
		c := consumer.New(consumer.Config{
			Name: p.name, Subjects: p.subjects, Replicas: cs.cfg.NATSReplicas, EventRetention: cs.cfg.EventRetention,
			Concurrency: cs.cfg.Concurrency, MaxAckPending: cs.cfg.MaxAckPending, MaxDeliver: cs.cfg.MaxDeliver,
			RetryBase: cs.cfg.RetryBase, RetryMax: cs.cfg.RetryMax, AckWait: cs.cfg.AckWait,
		}, cs.js, kv, p.handler, cs.log, cs.tp, cs.prop, cs.metrics)
		p.consumer.Store(c)
		wg.Go(func() { _ = c.Run(ctx, lifecycle.InFlight(ctx)) })
	}
	wg.Wait()
	return nil
}

// checks is one readiness check per pipeline: its consumer is bound.
func (cs *consumers) checks() []lifecycle.Check {
	var checks []lifecycle.Check
	for _, p := range cs.pipes {
		checks = append(checks, lifecycle.Check{Name: "consumer " + p.name, Ready: func(context.Context) error {
			switch c := p.consumer.Load(); {
			case c == nil:
				return errors.New("streams not set up yet")
			case !c.Bound():
				return errors.New("not bound")
			}
			return nil
		}})
	}
	return checks
}

// natsConnected is the readiness check of the NATS connection.
func natsConnected(nc *natsx.Conn) func(context.Context) error {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}
}
