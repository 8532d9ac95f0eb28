package storefence

import (
	"encoding/json"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
)

// record is a saga's fence record as stored (JSON): the newest epoch seen
// and the state of each key. A saga has a handful of keys, so one record
// per saga keeps the lock and the read to one row.
type record struct {
	Epoch uint64                `json:"epoch,omitempty"`
	Keys  map[string]*keyRecord `json:"keys,omitempty"`
}

// keyRecord is one key's state; the reservations are those of Admit, with
// their expiry in Unix milliseconds.
type keyRecord struct {
	Action       saga.ActionState `json:"a,omitempty"`
	Undone       bool             `json:"c,omitempty"`
	ActionHolder string           `json:"ra,omitempty"`
	ActionUntil  int64            `json:"ra_until,omitempty"`
	UndoHolder   string           `json:"rc,omitempty"`
	UndoUntil    int64            `json:"rc_until,omitempty"`
}

func decode(raw []byte) (*record, error) {
	r := &record{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, r); err != nil {
			return nil, err
		}
	}
	if r.Keys == nil {
		r.Keys = map[string]*keyRecord{}
	}
	return r, nil
}

func (r *record) encode() ([]byte, error) { return json.Marshal(r) }

// key returns key's state, creating it.
func (r *record) key(key string) *keyRecord {
	k := r.Keys[key]
	if k == nil {
		k = &keyRecord{}
		r.Keys[key] = k
	}
	return k
}

// state is key's state as saga.Decide sees it at now: expired reservations
// are none.
func (r *record) state(key string, now time.Time) saga.KeyState {
	k := r.Keys[key]
	if k == nil {
		return saga.KeyState{}
	}
	return saga.KeyState{
		Action: k.Action, Undone: k.Undone,
		ActionHolder: live(k.ActionHolder, k.ActionUntil, now), UndoHolder: live(k.UndoHolder, k.UndoUntil, now),
	}
}

func live(holder string, until int64, now time.Time) string {
	if now.UnixMilli() < until {
		return holder
	}
	return ""
}

// commit records op as applied and releases its reservation.
func (k *keyRecord) commit(op saga.Op) {
	if op.Compensation {
		k.Undone, k.UndoHolder, k.UndoUntil = true, "", 0
		return
	}
	k.Action, k.ActionHolder, k.ActionUntil = saga.ActionDone, "", 0
}
