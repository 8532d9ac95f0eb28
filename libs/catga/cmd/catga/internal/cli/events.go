package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/transport"
)

// Message is one stored message as events tail and dlq list print it.
type Message struct {
	Seq     uint64              `json:"seq"`
	Time    time.Time           `json:"time"`
	Subject string              `json:"subject"`
	Headers map[string][]string `json:"headers"`
	// Data is the body when it is JSON; Text when it is other UTF-8; Base64
	// (encoding/json's form of bytes) otherwise.
	Data   json.RawMessage `json:"data,omitempty"`
	Text   string          `json:"text,omitempty"`
	Base64 []byte          `json:"base64,omitempty"`
}

func message(seq uint64, at time.Time, subject string, h map[string][]string, data []byte) Message {
	m := Message{Seq: seq, Time: at, Subject: subject, Headers: h}
	if m.Headers == nil {
		m.Headers = map[string][]string{}
	}
	switch {
	case len(data) == 0:
	case json.Valid(data):
		m.Data = data
	case utf8.Valid(data):
		m.Text = string(data)
	default:
		m.Base64 = data
	}
	return m
}

// body is the message's body for a table cell.
func (m Message) body() string {
	switch {
	case m.Data != nil:
		return string(m.Data)
	case m.Text != "":
		return m.Text
	case m.Base64 != nil:
		return fmt.Sprintf("(%d bytes)", len(m.Base64))
	}
	return ""
}

func header(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (a *app) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Look at the events stored in JetStream"}
	var count int
	var from string
	var follow bool
	var forDur time.Duration
	tail := &cobra.Command{
		Use:   "tail SUBJECT",
		Short: "Print the last events on a subject (wildcards allowed)",
		Long: `tail reads the events stored on SUBJECT (e.g. catga.evt.order.placed, or
'catga.evt.order.>') since --since through an ordered ephemeral consumer,
which leaves nothing behind on the server, and prints the last --count of
them, oldest first, with their headers.`,
		Example: `  catga events tail catga.evt.order.placed
  catga events tail 'catga.evt.>' --since 10m --count 100
  catga events tail catga.evt.payment.charged --since 2026-12-02T03:00:00Z --json
  catga events tail 'catga.evt.order.>' -f`,
		Args: args(1, "one SUBJECT"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			subject := args[0]
			if subject == "" || strings.ContainsAny(subject, " \t\r\n") {
				return usagef("SUBJECT %q: want a NATS subject such as catga.evt.order.placed", subject)
			}
			if count <= 0 {
				return usagef("--count %d: want a positive number", count)
			}
			start, err := since(from, time.Now())
			if err != nil {
				return err
			}
			msgs, last, err := a.read(cmd.Context(), readSpec{subject: subject, start: start, keepLast: count})
			if err != nil {
				return err
			}
			if follow {
				for _, m := range msgs {
					if err := a.printLine(m); err != nil {
						return err
					}
				}
				return a.follow(cmd.Context(), subject, last, forDur)
			}
			if a.json {
				return a.printJSON(msgs)
			}
			rows := make([][]string, 0, len(msgs))
			for _, m := range msgs {
				rows = append(rows, []string{strconv.FormatUint(m.Seq, 10), m.Time.UTC().Format("2006-01-02T15:04:05.000Z"), m.Subject,
					clip(header(m.Headers, inbox.HeaderStream), 40), clip(header(m.Headers, transport.HeaderMsgID), 36), clip(m.body(), 80)})
			}
			if err := table(a.io.Out, []string{"SEQ", "TIME", "SUBJECT", "STREAM", "MSG-ID", "DATA"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "%d event(s) since %s\n", len(msgs), start.UTC().Format(time.RFC3339))
			return nil
		}),
	}
	tail.Flags().IntVarP(&count, "count", "n", 20, "print at most the last this many events")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "then print new events as they arrive, one line each (--json: one object a line), until interrupted or --for passes")
	tail.Flags().DurationVar(&forDur, "for", 0, "with --follow, stop after this long (0: when interrupted)")
	tail.Flags().StringVar(&from, "since", "1h", "read from this long ago (10m) or this RFC 3339 time")
	cmd.AddCommand(tail)
	return cmd
}

// readSpec says what read reads: subject from start (a time) or after a
// sequence, keeping the last keepLast or the first firstN messages.
type readSpec struct {
	subject  string
	start    time.Time
	after    uint64
	keepLast int
	firstN   int
}

// read reads the stream through an ordered ephemeral consumer up to the
// messages stored when it started (it does not wait for new ones), and
// returns them with the stream's last sequence then.
func (a *app) read(ctx context.Context, spec readSpec) ([]Message, uint64, error) {
	msgs, _, last, err := a.readMore(ctx, spec)
	return msgs, last, err
}

// readMore is read, also saying whether firstN stopped it before the end
// and the stream's last sequence when it started.
func (a *app) readMore(ctx context.Context, spec readSpec) ([]Message, bool, uint64, error) {
	c, err := a.natsConn()
	if err != nil {
		return nil, false, 0, err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{spec.subject}}
	switch {
	case spec.after > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, spec.after+1
	case !spec.start.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &spec.start
	}
	stream, err := c.js.Stream(ctx, a.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, 0, fmt.Errorf("%w: no stream %s (--stream): has any peer run?", errRefused, a.stream)
	} else if err != nil {
		return nil, false, 0, fmt.Errorf("catga: stream %s: %w", a.stream, err)
	}
	// What is stored now bounds the read: a busy subject does not keep it
	// going.
	last := stream.CachedInfo().State.LastSeq
	if last == 0 || spec.after >= last {
		return []Message{}, false, last, nil
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, false, 0, fmt.Errorf("catga: read %s: %w", spec.subject, err)
	}
	out := []Message{}
	for {
		wait := min(time.Second, time.Until(deadline(ctx)))
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(max(wait, 10*time.Millisecond)))
		if err != nil {
			return nil, false, 0, fmt.Errorf("catga: read %s: %w", spec.subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if md.Sequence.Stream > last {
				return out, false, last, nil
			}
			out = append(out, message(md.Sequence.Stream, md.Timestamp, m.Subject(), m.Headers(), m.Data()))
			if spec.keepLast > 0 && len(out) > spec.keepLast {
				out = out[1:]
			}
			if spec.firstN > 0 && len(out) == spec.firstN {
				return out, md.NumPending > 0, last, nil
			}
			if md.NumPending == 0 || md.Sequence.Stream == last {
				return out, false, last, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, false, 0, fmt.Errorf("catga: read %s: %w", spec.subject, err)
		}
		if n == 0 {
			return out, false, last, nil // nothing (more) matches within the window
		}
		if ctx.Err() != nil {
			return nil, false, 0, fmt.Errorf("catga: read %s: %w", spec.subject, ctx.Err())
		}
	}
}

// follow prints the messages on subject stored after sequence last as
// they arrive, until ctx ends or d passes (d 0: until ctx ends).
func (a *app) follow(ctx context.Context, subject string, last uint64, d time.Duration) error {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	c, err := a.natsConn()
	if err != nil {
		return err
	}
	cons, err := c.js.OrderedConsumer(ctx, a.stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: last + 1})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("catga: follow %s: %w", subject, err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(min(time.Second, max(time.Until(deadline(ctx)), 10*time.Millisecond))))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("catga: follow %s: %w", subject, err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if err := a.printLine(message(md.Sequence.Stream, md.Timestamp, m.Subject(), m.Headers(), m.Data())); err != nil {
				return err
			}
		}
	}
	return nil // the end of following is the end the operator asked for
}

// printLine prints one message on one line: JSON with --json, else the
// columns of the tail table.
func (a *app) printLine(m Message) error {
	if a.json {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.io.Out, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(a.io.Out, "%d  %s  %s  %s  %s\n", m.Seq, m.Time.UTC().Format("2006-01-02T15:04:05.000Z"), m.Subject,
		clip(header(m.Headers, transport.HeaderMsgID), 36), clip(m.body(), 120))
	return err
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Minute)
}
