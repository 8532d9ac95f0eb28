package sagastore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sentinel errors. Implementations wrap them with %w.
var (
	// ErrNotFound: no record with that id.
	ErrNotFound = errors.New("catga: saga not found")
	// ErrExists: Create found a record with that id already.
	ErrExists = errors.New("catga: saga already exists")
	// ErrConflict: Update's expected version is not the stored one. The
	// caller lost ownership (another peer claimed the saga or wrote first);
	// it must re-read before deciding anything.
	ErrConflict = errors.New("catga: saga version conflict")
	// ErrCorrupt: the stored bytes do not decode into a Record.
	ErrCorrupt = errors.New("catga: corrupt saga record")
)

// CorruptError says which record could not be decoded and why.
type CorruptError struct {
	ID  string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("catga: corrupt saga record %q: %v", e.ID, e.Err)
}

// Unwrap returns the decoding error; errors.Is(err, ErrCorrupt) also holds.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// State is where a saga is in its life.
type State string

// Saga states. Completed and Compensated are final; Stuck waits for an
// operator (a compensation kept failing past its retry policy).
const (
	StateRunning      State = "running"
	StateCompensating State = "compensating"
	StateCompleted    State = "completed"
	StateCompensated  State = "compensated"
	StateStuck        State = "stuck"
)

// Final reports whether nothing will ever happen to a saga in state s.
func (s State) Final() bool { return s == StateCompleted || s == StateCompensated }

// Active reports whether a peer should be executing a saga in state s (and
// so whether it belongs in the due index).
func (s State) Active() bool { return s == StateRunning || s == StateCompensating }

// StepStatus is the persisted status of one step.
type StepStatus string

// Step statuses.
const (
	StepPending      StepStatus = ""
	StepStarted      StepStatus = "started"
	StepSucceeded    StepStatus = "succeeded"
	StepFailed       StepStatus = "failed"
	StepCompensating StepStatus = "compensating"
	StepCompensated  StepStatus = "compensated"
)

// StepState is the persisted state of one step.
type StepState struct {
	Status StepStatus `json:"s,omitempty"`
	// KeyEpoch is the owner epoch when the step was first started; it is
	// part of the step's idempotency key, so a resumed step keeps its key.
	KeyEpoch uint64 `json:"k,omitempty"`
	Attempts int    `json:"a,omitempty"`
	// Rejected: the action was refused by the participant, so it did not
	// apply. It is compensated all the same, so that the participant's
	// fence refuses the message if it is replayed later.
	Rejected bool `json:"r,omitempty"`
	// Code is the rejection's code (catga.RejectionError.Code) when
	// Rejected, so that callers act on the reason without parsing Error.
	Code  string `json:"c,omitempty"`
	Error string `json:"e,omitempty"`
	// UndoRound counts operator retries of the step's compensation; it is
	// part of the compensation's idempotency key, so that an operator's
	// retry reaches the participant anew instead of the reply a transport
	// cached for the failed attempt.
	UndoRound int `json:"u,omitempty"`
	// Result is what the action recorded with saga.SetResult (JSON), kept
	// once it succeeded; nil if it recorded nothing.
	Result json.RawMessage `json:"res,omitempty"`
}

// EventKind says what happened in a history [Event].
type EventKind string

// Event kinds.
const (
	EventCreated            EventKind = "created"
	EventStarted            EventKind = "started"   // a step's action began (its key epoch set)
	EventSucceeded          EventKind = "succeeded" // a step's action succeeded
	EventFailed             EventKind = "failed"    // a step's action failed: compensation follows
	EventCompleted          EventKind = "completed"
	EventCompensating       EventKind = "compensating"
	EventCompensated        EventKind = "compensated" // one step's compensation succeeded
	EventCompensatedAll     EventKind = "compensated-all"
	EventStuck              EventKind = "stuck"
	EventReleased           EventKind = "released"            // the owner gave up its lease (shutdown)
	EventClaimed            EventKind = "claimed"             // a peer took over an expired lease
	EventRetried            EventKind = "retried"             // an operator resumed a Stuck saga
	EventForcedCompensation EventKind = "forced-compensation" // an operator forced compensation
)

// Event is one entry of a saga's history.
type Event struct {
	At    time.Time `json:"t"`
	Step  int       `json:"i"`
	What  EventKind `json:"w"`
	Epoch uint64    `json:"p,omitempty"`
	Owner string    `json:"o,omitempty"`
	Error string    `json:"e,omitempty"`
}

// Record is the persisted state of one saga.
type Record struct {
	ID   string `json:"id"`
	Name string `json:"name"` // saga definition name
	// State and Step: Running executes Steps[Step]; Compensating undoes
	// Steps[Step] and then the ones before it.
	State State       `json:"state"`
	Step  int         `json:"step"`
	Steps []StepState `json:"steps"`
	// Data is the saga's typed data, as JSON.
	Data json.RawMessage `json:"data,omitempty"`
	// Owner, Epoch and LeaseUntil make up the lease. A peer may claim the
	// saga when LeaseUntil has passed; claiming bumps Epoch (the fencing
	// epoch carried by every step call).
	Owner      string    `json:"owner,omitempty"`
	Epoch      uint64    `json:"epoch"`
	LeaseUntil time.Time `json:"lease"`
	Deadline   time.Time `json:"deadline,omitzero"`
	Error      string    `json:"error,omitempty"`
	History    []Event   `json:"history,omitempty"`
	CreatedAt  time.Time `json:"created"`
	UpdatedAt  time.Time `json:"updated"`

	// Version is the store's compare-and-set token: set by Create, Get and
	// Update, never interpreted by callers beyond passing it back.
	Version uint64 `json:"-"`
}

// Clone returns a deep copy, so a caller can modify it without touching a
// record shared with a store or another goroutine.
func (r Record) Clone() Record {
	c := r
	c.Steps = append([]StepState(nil), r.Steps...)
	c.History = append([]Event(nil), r.History...)
	c.Data = append(json.RawMessage(nil), r.Data...)
	return c
}

// Encode and Decode are the JSON form every store keeps.
func Encode(r Record) ([]byte, error) { return json.Marshal(r) }

// Decode decodes a record stored under id; failures are a [*CorruptError].
func Decode(id string, b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, &CorruptError{ID: id, Err: err}
	}
	if r.ID != id {
		return Record{}, &CorruptError{ID: id, Err: fmt.Errorf("record id %q", r.ID)}
	}
	return r, nil
}

// Entry is one entry of the due index: saga ID, indexed by its owner of
// Epoch, is due for a look by recovery at At. An index holds one entry per
// (ID, Epoch): a claim adds the entry of its new epoch before it writes the
// record, and a peer removes only the entry of an epoch it knows is over, so
// a removal can never take out the entry of a newer owner.
//
// Epoch 0 marks a legacy entry, written by an engine that indexed by id
// alone (stores read such entries as they find them, so that sagas in
// flight across an upgrade stay recoverable).
type Entry struct {
	ID    string
	Epoch uint64
	At    time.Time
}

// ListActive implements List for Running and Compensating sagas through the
// due index of s: the records of the entries Due returns, in state, oldest
// first, up to limit. Stores share it.
func ListActive(ctx context.Context, s Store, state State, limit int) ([]Record, error) {
	ids, err := DueIDs(ctx, s)
	if err != nil {
		return nil, err
	}
	return GetInState(ctx, s, ids, state, limit)
}

// GetInState reads the records of ids and keeps those in state, oldest
// first, up to limit; missing and corrupt records are skipped.
func GetInState(ctx context.Context, s Store, ids []string, state State, limit int) ([]Record, error) {
	var out []Record
	for _, id := range ids {
		rec, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
			continue
		case err != nil:
			return nil, err
		}
		if rec.State == state {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Scanner is implemented by stores that can read every record in a state
// without any index (slow: for tests and audits). A check that the indexes
// are complete needs it.
type Scanner interface {
	Scan(ctx context.Context, state State, limit int) ([]Record, error)
}

// Store keeps saga records. It must be safe for concurrent use by many
// goroutines and, for shared implementations, many processes.
//
// Contract:
//   - Create stores rec with a fresh Version and adds the entry (rec.ID,
//     rec.Epoch, rec.LeaseUntil) to the due index; ErrExists if the id is
//     taken.
//   - Get returns the record with its Version; ErrNotFound, or a
//     [*CorruptError] (matching ErrCorrupt) when the bytes do not decode.
//   - Update replaces the record if the stored Version equals rec.Version,
//     in one atomic step, and returns the new Version; ErrConflict when the
//     versions differ, ErrNotFound when there is no record. Update does not
//     touch the due index (that is what keeps a transition one round trip).
//   - The due index holds entries. Invariant kept by the engine: every
//     Active saga has an entry of its current epoch (or a newer one being
//     claimed) at or before its LeaseUntil. Due returns up to limit entries
//     whose At is at or before now, oldest first (possibly entries whose
//     record has since moved on: callers re-read). Index adds an entry or
//     resets its At; Unindex removes entries by (ID, Epoch), ignoring At.
//     Due may return a partial answer (and no error) when part of a
//     sharded index is unreachable, so that recovery goes on elsewhere.
//   - List returns up to limit records (0: no limit) in the given state,
//     oldest first. It reads an index, not every record: Running and
//     Compensating sagas are found through the due index, Stuck ones
//     through a stuck index that Create and Update add to when the record
//     is Stuck (entries of sagas that left Stuck are dropped when List
//     finds them), final ones through the finished index, in the order
//     they finished (the pages of ListFinished).
//   - The finished index holds an entry per (final state, saga), written
//     by the Create or Update that makes the record final, with no extra
//     round trip where the store allows it (see each store). An entry
//     never moves once written, and entries older than the store's
//     retention are neither listed nor kept (each store trims them in
//     bounded batches). ListFinished pages through it: see [Page].
//   - ListPage pages through the sagas in any state, for operators. For a
//     final state it is ListFinished. For the others it reads the ids of
//     the state's index (the due index for Running and Compensating, the
//     stuck index for Stuck) and only the records of its page, in id
//     order from cursor ("" for the first page, then the previous page's
//     Next; a cursor of another state's kind is ErrBadCursor): a saga that
//     stays in the state while a caller pages is listed exactly once, one
//     that enters or leaves it at most once. Records, Next and More as in
//     [Page]; a state that is none of the five is ErrUnknownState.
type Store interface {
	Create(ctx context.Context, rec Record) (version uint64, err error)
	Get(ctx context.Context, id string) (Record, error)
	Update(ctx context.Context, rec Record) (version uint64, err error)
	Due(ctx context.Context, now time.Time, limit int) ([]Entry, error)
	Index(ctx context.Context, e Entry) error
	Unindex(ctx context.Context, entries ...Entry) error
	List(ctx context.Context, state State, limit int) ([]Record, error)
	ListFinished(ctx context.Context, state State, cursor string, limit int) (Page, error)
	ListPage(ctx context.Context, state State, cursor string, limit int) (Page, error)
}
