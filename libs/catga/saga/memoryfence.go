package saga

import (
	"context"
	"sync"
	"time"
)

// DefaultReservation is how long a fence reserves a key for a delivery
// being applied, unless configured otherwise.
const DefaultReservation = 30 * time.Second

// FenceOption configures a fence ([MemoryFence], redisfence.Fence).
type FenceOption func(*FenceOptions)

// FenceOptions are the settings common to fences.
type FenceOptions struct {
	// Reservation is how long Admit reserves a key for the delivery being
	// applied: longer than any handler takes, short enough that a
	// participant that died mid-apply blocks retries only that long.
	Reservation time.Duration
}

// WithReservation sets the reservation time (default DefaultReservation).
func WithReservation(d time.Duration) FenceOption {
	return func(o *FenceOptions) { o.Reservation = d }
}

// ApplyFenceOptions returns the options with defaults filled in.
func ApplyFenceOptions(opts ...FenceOption) FenceOptions {
	o := FenceOptions{Reservation: DefaultReservation}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Reservation <= 0 {
		o.Reservation = DefaultReservation
	}
	return o
}

// MemoryFence is an in-process Fence.
type MemoryFence struct {
	mu          sync.Mutex
	sagas       map[string]*fenceState
	reservation time.Duration
}

type fenceState struct {
	epoch uint64
	keys  map[string]*keyRecord
}

type keyRecord struct {
	action       ActionState
	undone       bool
	actionHolder string
	actionUntil  time.Time
	undoHolder   string
	undoUntil    time.Time
}

// NewMemoryFence returns an empty in-memory fence.
func NewMemoryFence(opts ...FenceOption) *MemoryFence {
	return &MemoryFence{sagas: map[string]*fenceState{}, reservation: ApplyFenceOptions(opts...).Reservation}
}

var _ Fence = (*MemoryFence)(nil)

func (f *MemoryFence) key(op Op) (*fenceState, *keyRecord) {
	s := f.sagas[op.Saga]
	if s == nil {
		s = &fenceState{keys: map[string]*keyRecord{}}
		f.sagas[op.Saga] = s
	}
	k := s.keys[op.Key]
	if k == nil {
		k = &keyRecord{}
		s.keys[op.Key] = k
	}
	return s, k
}

func live(holder string, until, now time.Time) string {
	if now.Before(until) {
		return holder
	}
	return ""
}

// Admit implements Fence.
func (f *MemoryFence) Admit(_ context.Context, op Op) (Admission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, k := f.key(op)
	now := time.Now()
	adm, err := Decide(op, s.epoch, KeyState{Action: k.action, Undone: k.undone,
		ActionHolder: live(k.actionHolder, k.actionUntil, now), UndoHolder: live(k.undoHolder, k.undoUntil, now)})
	if op.Epoch >= s.epoch {
		// Also when the op must wait or is refused: a newer owner exists,
		// and older ones are fenced out from now on (their Commit too).
		s.epoch = op.Epoch
	}
	if err != nil {
		return 0, err
	}
	switch {
	case adm == NothingToUndo:
		k.action, k.undone = ActionTomb, true
	case adm == Apply && op.Compensation:
		k.undoHolder, k.undoUntil = op.Token, now.Add(f.reservation)
	case adm == Apply:
		k.actionHolder, k.actionUntil = op.Token, now.Add(f.reservation)
	}
	return adm, nil
}

// Commit implements Fence.
func (f *MemoryFence) Commit(_ context.Context, op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, k := f.key(op)
	if op.Compensation {
		k.undone, k.undoHolder = true, ""
		return staleCommit(op, s.epoch)
	}
	if k.action == ActionTomb {
		return rejectCompensated(op)
	}
	k.action, k.actionHolder = ActionDone, ""
	return staleCommit(op, s.epoch)
}

// Abort implements Fence.
func (f *MemoryFence) Abort(_ context.Context, op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, k := f.key(op)
	switch {
	case op.Compensation && k.undoHolder == op.Token:
		k.undoHolder = ""
	case !op.Compensation && k.actionHolder == op.Token:
		k.actionHolder = ""
	}
	return nil
}
