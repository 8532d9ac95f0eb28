package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// CheckRecoverable fails t unless every active (Running or Compensating)
// saga in s has a due-index entry of its epoch (or a newer one), which is what lets some peer's recovery
// find it if its owner dies. Engine tests call it after every scenario, once
// the engines are closed: a saga missing from the index there is orphaned
// for good.
func CheckRecoverable(t testing.TB, s sagastore.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if msg := Unrecoverable(ctx, s); msg != "" {
		t.Error(msg)
	}
}

// Unrecoverable describes the active sagas of s missing from the due index,
// or the error that prevented the check; "" when there are none.
func Unrecoverable(ctx context.Context, s sagastore.Store) string {
	indexed := map[string]uint64{} // id -> newest epoch indexed
	entries, err := s.Due(ctx, time.Now().Add(100*365*24*time.Hour), 0)
	if err != nil {
		return "recoverability check: Due: " + err.Error()
	}
	for _, e := range entries {
		indexed[e.ID] = max(indexed[e.ID], e.Epoch)
	}
	// List finds active sagas through the due index itself: the check reads
	// every record instead.
	sc, ok := s.(sagastore.Scanner)
	if !ok {
		return "recoverability check: the store cannot be scanned (not a sagastore.Scanner)"
	}
	msg := ""
	for _, state := range []sagastore.State{sagastore.StateRunning, sagastore.StateCompensating} {
		recs, err := sc.Scan(ctx, state, 0)
		if err != nil {
			return "recoverability check: Scan: " + err.Error()
		}
		for _, r := range recs {
			if ep, ok := indexed[r.ID]; !ok || ep < r.Epoch {
				msg += "orphaned saga " + r.ID + ": state=" + string(r.State) + " owner=" + r.Owner +
					" leaseExpired=" + strconv.FormatBool(r.LeaseUntil.Before(time.Now())) + " inDueIndex=false\n"
			}
		}
	}
	return msg
}
