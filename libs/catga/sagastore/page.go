package sagastore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// idCursor marks the cursors of [PageByID], so that a finished-index
// cursor handed to a state without one is refused, not misread.
const idCursor = "id:"

// DueIDs returns the ids the due index of s holds (every Running and
// Compensating saga, and entries of sagas that since moved on), each once.
func DueIDs(ctx context.Context, s Store) ([]string, error) {
	entries, err := s.Due(ctx, time.Now().Add(100*365*24*time.Hour), 0)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// ListPage implements Store.ListPage for a store s whose stuck index
// stuckIDs reads: final states page through s.ListFinished; Running and
// Compensating sagas through the ids of the due index, Stuck ones through
// those of the stuck index, then [PageByID]. Stores share it.
func ListPage(ctx context.Context, s Store, stuckIDs func(context.Context) ([]string, error), state State, cursor string, limit int) (Page, error) {
	var (
		ids []string
		err error
	)
	switch {
	case state.Final():
		return s.ListFinished(ctx, state, cursor, limit)
	case state.Active():
		ids, err = DueIDs(ctx, s)
	case state == StateStuck:
		ids, err = stuckIDs(ctx)
	default:
		return Page{}, UnknownState(state)
	}
	if err != nil {
		return Page{}, err
	}
	return PageByID(ctx, s, ids, state, cursor, limit)
}

// PageByID implements Store.ListPage for a state that is not final, given
// ids, what the state's index holds (any order, repeats allowed): from
// cursor ("" or a Page.Next of this function), it reads records in id
// order until limit of them are in state (DefaultPageSize when limit is 0
// or less), skipping missing and corrupt ones. Stores share it.
func PageByID(ctx context.Context, s Store, ids []string, state State, cursor string, limit int) (Page, error) {
	after, ok := strings.CutPrefix(cursor, idCursor)
	if cursor != "" && (!ok || after == "") {
		return Page{}, fmt.Errorf("%w: %q is not a cursor of %s sagas", ErrBadCursor, cursor, state)
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	i := 0
	if cursor != "" {
		// The first id past the cursor: ids move in and out of the index
		// between pages, but never change their place in this order.
		i, _ = slices.BinarySearch(ids, after)
		if i < len(ids) && ids[i] == after {
			i++
		}
	}
	page := Page{Next: cursor}
	for ; i < len(ids) && len(page.Records) < limit; i++ {
		rec, err := s.Get(ctx, ids[i])
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		case err != nil:
			return Page{}, err
		case rec.State == state:
			page.Records = append(page.Records, rec)
		}
		page.Next = idCursor + ids[i]
	}
	page.More = i < len(ids)
	return page, nil
}

// ErrUnknownState: ListPage was asked for a state that is none of the five.
var ErrUnknownState = errors.New("catga: unknown saga state")

// UnknownState is the error ListPage returns for a state that is none of
// the five.
func UnknownState(state State) error {
	return fmt.Errorf("%w %q (want running, compensating, stuck, completed or compensated)", ErrUnknownState, state)
}
