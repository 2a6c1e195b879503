package consumer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of kairos_notifier_messages_total.
const (
	ResultOK               = "ok"
	ResultRetry            = "retry"
	ResultDeadLetter       = "dead_letter"
	ResultDuplicateSkipped = "duplicate_skipped"
	// ResultIgnored: a subject inside the consumer's filter that its handler
	// does not take; acknowledged unhandled (subject label "unknown").
	ResultIgnored = "ignored"
)

// Dead-letter reasons (kairos_dead_letters_total{reason} and the
// Kairos-Dlq-Reason header).
const (
	ReasonMaxDeliver  = "max_deliver"
	ReasonPermanent   = "permanent"
	ReasonUndecodable = "undecodable"
)

// subjectUnknown labels messages on a subject the consumer does not handle.
const subjectUnknown = "unknown"

// Metrics are the consumer-side series of the notifier; one value is shared
// by every consumer of the process.
type Metrics struct {
	messages    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	pending     *prometheus.GaugeVec
	ackPending  *prometheus.GaugeVec
	redelivered *prometheus.GaugeVec
}

// NewMetrics registers the consumer series on reg and creates every known
// label combination, so dashboards and alerts see them before the first
// message. subjects maps each consumer name to the subjects it handles.
func NewMetrics(reg prometheus.Registerer, subjects map[string][]string) (*Metrics, error) {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_notifier_messages_total",
			Help: "Messages handled by consumer, subject and result (ok, retry, dead_letter, duplicate_skipped, ignored).",
		}, []string{"consumer", "subject", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_dead_letters_total",
			Help: "Messages moved to the dead-letter stream, by consumer and reason (max_deliver, permanent, undecodable).",
		}, []string{"consumer", "reason"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_consumer_pending_messages",
			Help: "Messages on the stream not yet delivered to the consumer (JetStream consumer info).",
		}, []string{"consumer"}),
		ackPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_consumer_ack_pending_messages",
			Help: "Messages delivered to the consumer and not yet acknowledged, including those waiting for a retry.",
		}, []string{"consumer"}),
		redelivered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_consumer_redelivered_messages",
			Help: "Unacknowledged messages that have been delivered more than once (JetStream consumer info).",
		}, []string{"consumer"}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.deadLetters, m.pending, m.ackPending, m.redelivered} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for name, subs := range subjects {
		for _, s := range append(append([]string(nil), subs...), subjectUnknown) {
			for _, r := range []string{ResultOK, ResultRetry, ResultDeadLetter, ResultDuplicateSkipped} {
				m.messages.WithLabelValues(name, s, r)
			}
		}
		m.messages.WithLabelValues(name, subjectUnknown, ResultIgnored)
		for _, r := range []string{ReasonMaxDeliver, ReasonPermanent, ReasonUndecodable} {
			m.deadLetters.WithLabelValues(name, r)
		}
		m.pending.WithLabelValues(name)
		m.ackPending.WithLabelValues(name)
		m.redelivered.WithLabelValues(name)
	}
	return m, nil
}
