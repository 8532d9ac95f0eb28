package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// DeadLetter is one dead letter as dlq list prints it: the message with
// its original headers, and what the transport added.
type DeadLetter struct {
	Message
	Consumer string `json:"consumer"`
	// OriginalSubject is where the message was published and where replay
	// puts it back.
	OriginalSubject string `json:"original_subject"`
	Reason          string `json:"reason"`
	Attempts        int    `json:"attempts"`
	OriginalSeq     uint64 `json:"original_seq,omitempty"`
}

// DeadLetterPage is what dlq list prints with --json.
type DeadLetterPage struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	// After is the --after of the next page; More whether there is one.
	After uint64 `json:"after"`
	More  bool   `json:"more"`
}

// ReplayResult is what dlq replay prints with --json.
type ReplayResult struct {
	Seq      uint64 `json:"seq"`     // the dead letter's
	Subject  string `json:"subject"` // where it was put back
	NewSeq   uint64 `json:"new_seq"` // the replayed message's
	Removed  bool   `json:"removed"` // the dead letter was deleted
	Consumer string `json:"consumer"`
}

// deadHeaders are the headers the transport adds to a dead letter; the
// rest are the original message's.
var deadHeaders = []string{transport.HeaderDeadReason, transport.HeaderDeadSubject, natstransport.HeaderDeadStream,
	natstransport.HeaderDeadSequence, natstransport.HeaderDeadTime, natstransport.HeaderDeadAttempts, natstransport.HeaderDeadConsumer}

func deadLetter(m Message) DeadLetter {
	d := DeadLetter{Message: m, Consumer: header(m.Headers, natstransport.HeaderDeadConsumer),
		OriginalSubject: header(m.Headers, transport.HeaderDeadSubject), Reason: header(m.Headers, transport.HeaderDeadReason)}
	if d.Consumer == "" {
		d.Consumer = strings.TrimPrefix(m.Subject, transport.DeadLetterSubject(""))
	}
	d.Attempts, _ = strconv.Atoi(header(m.Headers, natstransport.HeaderDeadAttempts))
	d.OriginalSeq, _ = strconv.ParseUint(header(m.Headers, natstransport.HeaderDeadSequence), 10, 64)
	return d
}

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List dead letters and replay them after a fix",
		Long: `A durable consumer that cannot handle a message within its delivery budget
dead-letters it to catga.dlq.<consumer>, with its original headers and the
reason. dlq lists them and puts one back where it came from.`,
	}
	cmd.AddCommand(a.dlqListCmd(), a.dlqReplayCmd())
	return cmd
}

func (a *app) dlqListCmd() *cobra.Command {
	var limit int
	var after uint64
	cmd := &cobra.Command{
		Use:   "list [CONSUMER]",
		Short: "List dead letters, oldest first (of one consumer, or all)",
		Example: `  catga dlq list
  catga dlq list notification_order-placed --json
  catga dlq list --after 1042 --limit 50`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("want at most one CONSUMER, got %d arguments", len(args))
			}
			return nil
		},
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if limit <= 0 {
				return usagef("--limit %d: want a positive number", limit)
			}
			subject := transport.DeadLetterSubject(">")
			if len(args) == 1 {
				subject = transport.DeadLetterSubject(args[0])
			}
			msgs, more, _, err := a.readMore(cmd.Context(), readSpec{subject: subject, after: after, firstN: limit})
			if err != nil {
				return err
			}
			page := DeadLetterPage{DeadLetters: []DeadLetter{}, After: after, More: more}
			for _, m := range msgs {
				page.DeadLetters = append(page.DeadLetters, deadLetter(m))
				page.After = m.Seq
			}
			if a.json {
				return a.printJSON(page)
			}
			now := time.Now()
			rows := make([][]string, 0, len(page.DeadLetters))
			for _, d := range page.DeadLetters {
				rows = append(rows, []string{strconv.FormatUint(d.Seq, 10), ago(d.Time, now), d.Consumer, d.OriginalSubject,
					clip(header(d.Headers, transport.HeaderMsgID), 36), strconv.Itoa(d.Attempts), clip(d.Reason, 60)})
			}
			if err := table(a.io.Out, []string{"SEQ", "DEAD", "CONSUMER", "SUBJECT", "MSG-ID", "ATTEMPTS", "REASON"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "%d dead letter(s)", len(page.DeadLetters))
			if page.More {
				fmt.Fprintf(a.io.Out, "; next page: --after %d", page.After)
			}
			fmt.Fprintln(a.io.Out, "; replay one with: catga dlq replay SEQ")
			return nil
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "dead letters per page")
	cmd.Flags().Uint64Var(&after, "after", 0, "start after this stream sequence (the previous page's last)")
	return cmd
}

func (a *app) dlqReplayCmd() *cobra.Command {
	var yes, keep bool
	cmd := &cobra.Command{
		Use:   "replay SEQ",
		Short: "Put a dead letter back on its original subject, then remove it",
		Long: `replay publishes dead letter SEQ (see dlq list) again on the subject it was
first published on, with its original headers (the dead-letter headers
dropped), and then deletes the dead letter unless --keep. Every consumer of
that subject receives it again: the consumers that handled it the first
time skip it through their inbox (it keeps its Catga-Msg-Id), the one that
dead-lettered it handles it anew. Replaying one dead letter twice within
the stream's duplicate window publishes it once.`,
		Example: `  catga dlq replay 1042
  catga dlq replay 1042 --yes --json`,
		Args: args(1, "one dead letter SEQ"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return usagef("SEQ %q: want the stream sequence dlq list prints", args[0])
			}
			c, err := a.natsConn()
			if err != nil {
				return err
			}
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			stream, err := c.js.Stream(ctx, a.stream)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("%w: no stream %s (--stream)", errRefused, a.stream)
			} else if err != nil {
				return fmt.Errorf("catga: stream %s: %w", a.stream, err)
			}
			raw, err := stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("%w: no message %d in %s (replayed and removed already?)", errRefused, seq, a.stream)
			} else if err != nil {
				return fmt.Errorf("catga: get message %d: %w", seq, err)
			}
			d := deadLetter(message(raw.Sequence, raw.Time, raw.Subject, raw.Header, raw.Data))
			if !strings.HasPrefix(raw.Subject, transport.DeadLetterSubject("")) || d.OriginalSubject == "" {
				return fmt.Errorf("%w: message %d (%s) is not a dead letter", errRefused, seq, raw.Subject)
			}
			if !yes && !a.confirm(fmt.Sprintf("Dead letter %d of %s, from %s after %d attempt(s): %s.\nPublish it again on %s? [y/N] ",
				seq, d.Consumer, d.OriginalSubject, d.Attempts, clip(d.Reason, 120), d.OriginalSubject)) {
				return fmt.Errorf("%w: replay of %d not confirmed (--yes skips the question)", errRefused, seq)
			}
			h := nats.Header{}
			for k, v := range raw.Header {
				h[k] = v
			}
			for _, k := range deadHeaders {
				delete(h, k)
			}
			// A new deduplication id: the original's may still be in the
			// stream's window; this one makes a second replay a no-op.
			h[transport.HeaderNatsMsgID] = []string{fmt.Sprintf("replay-%s-%d", a.stream, seq)}
			ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: d.OriginalSubject, Header: h, Data: raw.Data})
			if err != nil {
				return fmt.Errorf("catga: replay %d on %s: %w", seq, d.OriginalSubject, err)
			}
			res := ReplayResult{Seq: seq, Subject: d.OriginalSubject, NewSeq: ack.Sequence, Consumer: d.Consumer}
			if !keep {
				if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					return fmt.Errorf("catga: replayed %d as %d, but could not remove the dead letter: %w", seq, ack.Sequence, err)
				}
				res.Removed = true
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.io.Out, "Replayed dead letter %d on %s as message %d", seq, res.Subject, res.NewSeq)
			if res.Removed {
				fmt.Fprint(a.io.Out, "; the dead letter is removed")
			}
			fmt.Fprintln(a.io.Out, ".")
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the dead letter after replaying it")
	return cmd
}
