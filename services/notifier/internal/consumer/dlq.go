package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers a dead letter carries besides the original message's own.
const (
	HeaderDLQConsumer  = "Kairos-Dlq-Consumer"
	HeaderDLQSubject   = "Kairos-Dlq-Subject"
	HeaderDLQReason    = "Kairos-Dlq-Reason"
	HeaderDLQAttempts  = "Kairos-Dlq-Attempts"
	HeaderDLQError     = "Kairos-Dlq-Error"
	HeaderDLQStreamSeq = "Kairos-Dlq-Stream-Seq"
	HeaderDLQAt        = "Kairos-Dlq-At"
)

// deadLetter stores msg on the dead-letter stream, then acknowledges it on
// USERS. The DLQ publish carries a Msg-Id made of the consumer and the
// original stream sequence, so a redelivery after a crash between the two
// steps does not store it twice. If the DLQ publish fails the message is
// retried later, never dropped.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, reason string, cause error) (string, error) {
	dl := nats.NewMsg(DLQSubjectPrefix + c.cfg.Name + "." + msg.Subject())
	for k, v := range msg.Headers() {
		if strings.HasPrefix(k, "Nats-") || strings.HasPrefix(k, "Kairos-") {
			continue // JetStream's own headers would change how the DLQ stores it
		}
		dl.Header[k] = v
	}
	dl.Header.Set(HeaderDLQConsumer, c.cfg.Name)
	dl.Header.Set(HeaderDLQSubject, msg.Subject())
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQAttempts, strconv.FormatUint(meta.NumDelivered, 10))
	dl.Header.Set(HeaderDLQError, headerSafe(cause.Error()))
	dl.Header.Set(HeaderDLQStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	dl.Header.Set(HeaderDLQAt, time.Now().UTC().Format(time.RFC3339Nano))
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		dl.Header.Set("Kairos-Dlq-Msg-Id", headerSafe(id))
	}
	dl.Data = msg.Data()

	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.js.PublishMsg(pctx, dl, jetstream.WithMsgID(fmt.Sprintf("%s.%d", c.cfg.Name, meta.Sequence.Stream))); err != nil {
		return c.retry(ctx, msg, int(meta.NumDelivered), fmt.Errorf("dead-letter publish: %w (after: %v)", err, cause))
	}
	c.ack(ctx, msg)
	c.metrics.deadLetters.WithLabelValues(c.cfg.Name, reason).Inc()
	c.log.WarnContext(ctx, "dead-lettered", "subject", msg.Subject(), "reason", reason,
		"attempts", meta.NumDelivered, "stream_seq", meta.Sequence.Stream, "error", cause)
	return ResultDeadLetter, cause
}

// headerSafe keeps a value on one header line and bounded in size.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "") + "…"
	}
	return s
}

// DeadLetter is one entry of the dead-letter stream, as `dlq list` prints it.
type DeadLetter struct {
	ID           uint64          `json:"id"` // sequence in USERS_DLQ; what `dlq replay` takes
	Consumer     string          `json:"consumer"`
	Subject      string          `json:"subject"`
	Reason       string          `json:"reason"`
	Attempts     int             `json:"attempts"`
	LastError    string          `json:"last_error"`
	StreamSeq    uint64          `json:"stream_seq,omitempty"`
	DeadAt       string          `json:"dead_lettered_at"`
	EventID      string          `json:"event_id,omitempty"`
	Event        json.RawMessage `json:"event,omitempty"`
	PayloadBytes int             `json:"payload_bytes"`
}

func toDeadLetter(seq uint64, h nats.Header, data []byte) DeadLetter {
	d := DeadLetter{
		ID:           seq,
		Consumer:     h.Get(HeaderDLQConsumer),
		Subject:      h.Get(HeaderDLQSubject),
		Reason:       h.Get(HeaderDLQReason),
		LastError:    h.Get(HeaderDLQError),
		DeadAt:       h.Get(HeaderDLQAt),
		PayloadBytes: len(data),
	}
	d.Attempts, _ = strconv.Atoi(h.Get(HeaderDLQAttempts))
	d.StreamSeq, _ = strconv.ParseUint(h.Get(HeaderDLQStreamSeq), 10, 64)
	// The payload is shown when it is a JSON object, with the verification
	// link (a secret: it verifies the account) redacted. Other payloads are
	// only counted: they may hold anything.
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) == nil {
		if _, ok := obj["verify_url"]; ok {
			obj["verify_url"] = json.RawMessage(`"[redacted]"`)
		}
		var id string
		if json.Unmarshal(obj["id"], &id) == nil {
			d.EventID = id
		}
		d.Event, _ = json.Marshal(obj)
	}
	return d
}

// List writes every dead letter to w as one JSON object a line, oldest first.
func List(ctx context.Context, js jetstream.JetStream, w io.Writer) error {
	enc := json.NewEncoder(w)
	return each(ctx, js, func(m jetstream.Msg, seq uint64) error {
		return enc.Encode(toDeadLetter(seq, m.Headers(), m.Data()))
	})
}

// each calls fn for every message of the dead-letter stream, in order.
func each(ctx context.Context, js jetstream.JetStream, fn func(jetstream.Msg, uint64) error) error {
	stream, err := js.Stream(ctx, DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // nothing was ever dead-lettered
	}
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	if stream.CachedInfo().State.Msgs == 0 {
		return nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read dead letters: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if err := fn(m, meta.Sequence.Stream); err != nil {
				return err
			}
			if meta.NumPending == 0 {
				return nil // the last one: don't wait for the fetch to expire
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read dead letters: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}

// Replay republishes dead letters to their original subjects, marked for the
// consumer that dead-lettered them (the other consumer skips it), and
// deletes each from the dead-letter stream once JetStream has stored the
// republished copy. all replays everything; otherwise ids are DLQ sequences.
// It writes one line per replayed message to w.
func Replay(ctx context.Context, js jetstream.JetStream, ids []uint64, all bool, w io.Writer) error {
	stream, err := js.Stream(ctx, DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if all {
			return nil
		}
		return fmt.Errorf("no dead letters: stream %s does not exist", DLQStream)
	}
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	replay := func(seq uint64, h nats.Header, data []byte) error {
		subject, consumer := h.Get(HeaderDLQSubject), h.Get(HeaderDLQConsumer)
		if subject == "" {
			return fmt.Errorf("dead letter %d has no %s header", seq, HeaderDLQSubject)
		}
		m := nats.NewMsg(subject)
		for k, v := range h {
			if !strings.HasPrefix(k, "Kairos-") && !strings.HasPrefix(k, "Nats-") {
				m.Header[k] = v
			}
		}
		m.Header.Set(HeaderReplayFor, consumer)
		m.Data = data
		// A fresh Msg-Id: the original one may still be inside the
		// duplicate window and would make JetStream drop the replay. This
		// one makes a repeated replay of the same entry harmless.
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(fmt.Sprintf("replay.%d", seq))); err != nil {
			return fmt.Errorf("replay %d: %w", seq, err)
		}
		if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("replayed %d but could not delete it from %s: %w", seq, DLQStream, err)
		}
		_, err := fmt.Fprintf(w, "replayed %d to %s for %s\n", seq, subject, consumer)
		return err
	}
	if all {
		// Collect first: deleting while an ordered consumer reads is fine,
		// but replaying while reading would also see the entries that a
		// concurrent notifier dead-letters again.
		type entry struct {
			seq  uint64
			h    nats.Header
			data []byte
		}
		var entries []entry
		if err := each(ctx, js, func(m jetstream.Msg, seq uint64) error {
			entries = append(entries, entry{seq, m.Headers(), m.Data()})
			return nil
		}); err != nil {
			return err
		}
		for _, e := range entries {
			if err := replay(e.seq, e.h, e.data); err != nil {
				return err
			}
		}
		return nil
	}
	for _, seq := range ids {
		raw, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("dead letter %d not found (already replayed?)", seq)
		}
		if err != nil {
			return fmt.Errorf("dead letter %d: %w", seq, err)
		}
		if err := replay(seq, raw.Header, raw.Data); err != nil {
			return err
		}
	}
	return nil
}
