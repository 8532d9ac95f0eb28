package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// SagaSummary is a saga as the list shows it.
type SagaSummary struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Step       int       `json:"step"`  // the step it runs or compensates, from 0
	Steps      int       `json:"steps"` // how many its definition has
	Owner      string    `json:"owner"`
	Epoch      uint64    `json:"epoch"`
	LeaseUntil time.Time `json:"lease_until"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Error      string    `json:"error,omitempty"`
}

// SagaView is one saga in full, as show prints it.
type SagaView struct {
	SagaSummary
	Deadline time.Time       `json:"deadline,omitzero"`
	Data     json.RawMessage `json:"data,omitempty"`
	StepList []StepView      `json:"step_states"`
	History  []EventView     `json:"history"`
}

// StepView is one step of a saga.
type StepView struct {
	Index     int             `json:"index"`
	Status    string          `json:"status"`
	Attempts  int             `json:"attempts"`
	KeyEpoch  uint64          `json:"key_epoch,omitempty"`
	UndoRound int             `json:"undo_round,omitempty"`
	Rejected  bool            `json:"rejected,omitempty"`
	Code      string          `json:"code,omitempty"`
	Error     string          `json:"error,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// EventView is one entry of a saga's history.
type EventView struct {
	At    time.Time `json:"at"`
	Step  int       `json:"step"`
	What  string    `json:"what"`
	Epoch uint64    `json:"epoch,omitempty"`
	Owner string    `json:"owner,omitempty"`
	Error string    `json:"error,omitempty"`
}

// SagaPage is what list prints with --json.
type SagaPage struct {
	State string        `json:"state"`
	Sagas []SagaSummary `json:"sagas"`
	// Next is the cursor of the following page (--cursor); More says
	// whether there was more when this page was read.
	Next string `json:"next"`
	More bool   `json:"more"`
}

func summary(r sagastore.Record) SagaSummary {
	return SagaSummary{ID: r.ID, Name: r.Name, State: string(r.State), Step: r.Step, Steps: len(r.Steps), Owner: r.Owner,
		Epoch: r.Epoch, LeaseUntil: r.LeaseUntil, Created: r.CreatedAt, Updated: r.UpdatedAt, Error: r.Error}
}

func view(r sagastore.Record) SagaView {
	v := SagaView{SagaSummary: summary(r), Deadline: r.Deadline, Data: r.Data, StepList: []StepView{}, History: []EventView{}}
	if !json.Valid(v.Data) {
		v.Data, _ = json.Marshal(string(r.Data)) // shown as a string rather than breaking the output
	}
	for i, s := range r.Steps {
		st := StepView{Index: i, Status: cmpStatus(s.Status), Attempts: s.Attempts, KeyEpoch: s.KeyEpoch, UndoRound: s.UndoRound,
			Rejected: s.Rejected, Code: s.Code, Error: s.Error}
		if json.Valid(s.Result) {
			st.Result = s.Result
		}
		v.StepList = append(v.StepList, st)
	}
	for _, e := range r.History {
		v.History = append(v.History, EventView{At: e.At, Step: e.Step, What: string(e.What), Epoch: e.Epoch, Owner: e.Owner, Error: e.Error})
	}
	return v
}

func cmpStatus(s sagastore.StepStatus) string {
	if s == sagastore.StepPending {
		return "pending"
	}
	return string(s)
}

var states = []string{"stuck", "running", "compensating", "completed", "compensated"}

func (a *app) sagasCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sagas",
		Short: "List, show, retry and compensate sagas",
		Long: `sagas reads the saga store of a service (--service, default order) through
its indexes and acts on sagas through the operator API: retry and compensate
hand a saga to the service's peers, which finish it.`,
	}
	cmd.AddCommand(a.sagasListCmd(), a.sagasShowCmd(), a.sagasActCmd("retry"), a.sagasActCmd("compensate"))
	return cmd
}

func (a *app) sagasListCmd() *cobra.Command {
	var state, name, cursor string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the sagas in one state, a page at a time",
		Long: `list pages through the sagas in one state through the store's index of
that state (the stuck, due or finished index): a page reads only its own
records. Running, compensating and stuck sagas are listed in id order,
completed and compensated ones in the order they finished. When there are
more, the last line gives the command for the next page (--cursor).`,
		Example: `  catga sagas list                      # stuck sagas, the ones that need an operator
  catga sagas list --state running --limit 50
  catga sagas list --state compensated --name order-placement --json
  catga sagas list --state stuck --cursor id:0b9f...`,
		Args: args(0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			if limit <= 0 {
				return usagef("--limit %d: want a positive number", limit)
			}
			op, err := a.operator(cmd.Context())
			if err != nil {
				return err
			}
			page, err := a.listSagas(cmd.Context(), op, sagastore.State(state), name, cursor, limit)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(page)
			}
			now := time.Now()
			rows := make([][]string, 0, len(page.Sagas))
			for _, s := range page.Sagas {
				step, lease := fmt.Sprintf("%d/%d", s.Step+1, s.Steps), until(s.LeaseUntil, now)
				if sagastore.State(s.State).Final() {
					step, lease = "-", "-" // over: no step runs, nobody holds it
				}
				rows = append(rows, []string{s.ID, s.Name, s.State, step, clip(s.Owner, 36),
					strconv.FormatUint(s.Epoch, 10), lease, ago(s.Updated, now), clip(s.Error, 60)})
			}
			if err := table(a.io.Out, []string{"ID", "NAME", "STATE", "STEP", "OWNER", "EPOCH", "LEASE", "UPDATED", "ERROR"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "%d %s saga(s)", len(page.Sagas), page.State)
			if page.More {
				fmt.Fprintf(a.io.Out, "; next page: catga sagas list --state %s --limit %d --cursor %s", page.State, limit, page.Next)
				if name != "" {
					fmt.Fprintf(a.io.Out, " --name %s", name)
				}
			}
			fmt.Fprintln(a.io.Out)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "stuck", "state to list: "+strings.Join(states, ", "))
	f.StringVar(&name, "name", "", "only sagas of this definition (e.g. order-placement)")
	f.IntVar(&limit, "limit", 20, "sagas per page")
	f.StringVar(&cursor, "cursor", "", "where the page starts: the cursor a previous page printed")
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(states, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// listSagas reads pages from cursor until limit sagas (of definition
// name, if set) or the end of the index.
func (a *app) listSagas(ctx context.Context, op *saga.Operator, state sagastore.State, name, cursor string, limit int) (SagaPage, error) {
	out := SagaPage{State: string(state), Sagas: []SagaSummary{}, Next: cursor}
	for {
		cctx, cancel := a.withTimeout(ctx)
		p, err := op.ListPage(cctx, state, out.Next, limit-len(out.Sagas))
		cancel()
		if err != nil {
			return out, err
		}
		for _, r := range p.Records {
			if name == "" || r.Name == name {
				out.Sagas = append(out.Sagas, summary(r))
			}
		}
		out.Next, out.More = p.Next, p.More
		if !p.More || len(out.Sagas) >= limit || ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
}

func (a *app) sagasShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one saga: data, steps, attempts, errors, owner, epoch, lease, history",
		Example: `  catga sagas show 0b9f...
  catga sagas show 0b9f... --json | jq .step_states`,
		Args:              args(1, "one saga ID"),
		ValidArgsFunction: a.completeSagas(sagastore.StateStuck, sagastore.StateRunning, sagastore.StateCompensating),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			op, err := a.operator(cmd.Context())
			if err != nil {
				return err
			}
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			rec, err := op.Get(ctx, args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(view(rec))
			}
			return a.printSaga(view(rec))
		}),
	}
}

func (a *app) printSaga(v SagaView) error {
	now := time.Now()
	w := a.io.Out
	fmt.Fprintf(w, "Saga      %s\nName      %s\n", v.ID, v.Name)
	if sagastore.State(v.State).Final() {
		fmt.Fprintf(w, "State     %s (%d steps)\n", v.State, v.Steps)
	} else {
		fmt.Fprintf(w, "State     %s at step %d of %d\n", v.State, v.Step+1, v.Steps)
	}
	if v.Error != "" {
		fmt.Fprintf(w, "Error     %s\n", v.Error)
	}
	fmt.Fprintf(w, "Owner     %s (epoch %d)\nLease     until %s (%s)\n", v.Owner, v.Epoch, v.LeaseUntil.Format(time.RFC3339), until(v.LeaseUntil, now))
	if !v.Deadline.IsZero() {
		fmt.Fprintf(w, "Deadline  %s (%s)\n", v.Deadline.Format(time.RFC3339), until(v.Deadline, now))
	}
	fmt.Fprintf(w, "Created   %s (%s)\nUpdated   %s (%s)\n", v.Created.Format(time.RFC3339), ago(v.Created, now), v.Updated.Format(time.RFC3339), ago(v.Updated, now))
	fmt.Fprintf(w, "Data      %s\n\nSteps\n", clip(string(v.Data), 200))
	rows := make([][]string, 0, len(v.StepList))
	for _, s := range v.StepList {
		status := s.Status
		if s.Rejected {
			status += " (rejected " + s.Code + ")"
		}
		rows = append(rows, []string{strconv.Itoa(s.Index + 1), status, strconv.Itoa(s.Attempts), strconv.Itoa(s.UndoRound), clip(s.Error, 60)})
	}
	if err := table(w, []string{"  #", "STATUS", "ATTEMPTS", "UNDO-ROUND", "ERROR"}, indent(rows)); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHistory")
	rows = rows[:0]
	for _, e := range v.History {
		rows = append(rows, []string{e.At.Format("15:04:05.000"), strconv.Itoa(e.Step + 1), e.What, strconv.FormatUint(e.Epoch, 10), clip(e.Owner, 36), clip(e.Error, 60)})
	}
	return table(w, []string{"  AT", "STEP", "WHAT", "EPOCH", "OWNER", "ERROR"}, indent(rows))
}

func indent(rows [][]string) [][]string {
	for _, r := range rows {
		r[0] = "  " + r[0]
	}
	return rows
}

// action is what retry or compensate does.
type action struct {
	short, long, example, question string
	allowed                        []sagastore.State
	do                             func(op *saga.Operator, ctx context.Context, id string) (saga.Record, error)
}

var actions = map[string]action{
	"retry": {
		short: "Retry a stuck saga's compensation",
		long: `retry hands a stuck saga back to its service's peers, which compensate it
anew with fresh attempts (the participant is asked again, not answered from
a cache). Only a stuck saga can be retried.`,
		example:  "  catga sagas retry 0b9f...\n  catga sagas retry 0b9f... --yes --wait 30s",
		question: "Retry its compensation?",
		allowed:  []sagastore.State{sagastore.StateStuck},
		do:       (*saga.Operator).Retry,
	},
	"compensate": {
		short: "Stop a running (or stuck) saga and compensate it",
		long: `compensate stops a running or stuck saga and hands its compensation to its
service's peers. The peer running it is fenced out by a new epoch: its next
write fails and it stops.`,
		example:  "  catga sagas compensate 0b9f...\n  catga sagas compensate 0b9f... --yes --json",
		question: "Stop it and compensate the steps done?",
		allowed:  []sagastore.State{sagastore.StateRunning, sagastore.StateStuck},
		do:       (*saga.Operator).ForceCompensate,
	},
}

// ActResult is what retry and compensate print with --json.
type ActResult struct {
	Saga SagaSummary `json:"saga"`
	// Outcome is the saga's state when --wait ended ("" without --wait).
	Outcome string `json:"outcome,omitempty"`
}

func (a *app) sagasActCmd(verb string) *cobra.Command {
	act := actions[verb]
	var yes bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:               verb + " ID",
		Short:             act.short,
		Long:              act.long + "\n\nIt asks for confirmation unless --yes; it refuses (exit code 3) a saga\nwhose state does not allow it.",
		Example:           act.example,
		Args:              args(1, "one saga ID"),
		ValidArgsFunction: a.completeSagas(act.allowed...),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			op, err := a.operator(ctx)
			if err != nil {
				return err
			}
			cctx, cancel := a.withTimeout(ctx)
			rec, err := op.Get(cctx, args[0])
			cancel()
			if err != nil {
				return err
			}
			if !allowed(rec.State, act.allowed) {
				return fmt.Errorf("%w: saga %s is %s; %s applies to %s sagas only", saga.ErrInvalidState, rec.ID, rec.State, verb, joinStates(act.allowed))
			}
			if !yes {
				q := fmt.Sprintf("Saga %s (%s) is %s at step %d of %d", rec.ID, rec.Name, rec.State, rec.Step+1, len(rec.Steps))
				if rec.Error != "" {
					q += ": " + clip(rec.Error, 120)
				}
				if !a.confirm(q + ".\n" + act.question + " [y/N] ") {
					return fmt.Errorf("%w: %s of saga %s not confirmed (--yes skips the question)", errRefused, verb, rec.ID)
				}
			}
			cctx, cancel = a.withTimeout(ctx)
			rec, err = act.do(op, cctx, rec.ID)
			cancel()
			if err != nil {
				return err
			}
			res := ActResult{Saga: summary(rec)}
			if !a.json {
				fmt.Fprintf(a.io.Out, "Saga %s handed to the peers of %s: %s, epoch %d.\n", rec.ID, a.serviceName(), rec.State, rec.Epoch)
			}
			if wait > 0 {
				rec, err = a.await(ctx, op, rec.ID, wait)
				res.Saga, res.Outcome = summary(rec), string(rec.State)
				if a.json {
					_ = a.printJSON(res)
				} else if err == nil {
					fmt.Fprintf(a.io.Out, "Saga %s is %s.\n", rec.ID, rec.State)
				}
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.io.Out, "Follow it with: catga sagas show %s\n", rec.ID)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the compensation's outcome (exit 1 unless compensated)")
	return cmd
}

// await polls the saga until it is no longer compensating, for up to
// wait: an error unless it ends compensated.
func (a *app) await(ctx context.Context, op *saga.Operator, id string, wait time.Duration) (saga.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var rec saga.Record
	for {
		r, err := op.Get(ctx, id)
		if err == nil {
			rec = r
			switch {
			case r.State == sagastore.StateCompensated:
				return r, nil
			case r.State != sagastore.StateCompensating:
				return r, fmt.Errorf("catga: saga %s is %s after the hand-off: %s", id, r.State, clip(r.Error, 200))
			}
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("catga: saga %s still %s after %s: is a peer of %s running?", id, rec.State, wait, a.serviceName())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// confirm asks question on the error stream and reads the answer from
// the input: yes only for y or yes.
func (a *app) confirm(question string) bool {
	fmt.Fprint(a.io.Err, question)
	line, _ := bufio.NewReader(a.io.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func allowed(s sagastore.State, in []sagastore.State) bool {
	for _, x := range in {
		if s == x {
			return true
		}
	}
	return false
}

func joinStates(ss []sagastore.State) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, " or ")
}

// completeSagas completes a saga ID with the first sagas in states.
func (a *app) completeSagas(in ...sagastore.State) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		op, err := a.operator(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range in {
			p, err := a.listSagas(cmd.Context(), op, s, "", "", 50)
			if err != nil {
				continue
			}
			for _, r := range p.Sagas {
				out = append(out, cobra.CompletionWithDesc(r.ID, r.Name+" "+r.State))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
