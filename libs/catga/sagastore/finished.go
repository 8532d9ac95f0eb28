package sagastore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrBadCursor: a ListFinished cursor that this store did not return (or
// a state that is not final).
var ErrBadCursor = errors.New("catga: invalid saga list cursor")

// DefaultRetention is how long the finished index keeps a saga when the
// store is not told otherwise.
const DefaultRetention = 7 * 24 * time.Hour

// DefaultPageSize is ListFinished's page size when limit is 0 or less.
const DefaultPageSize = 100

// Page is one page of the finished index of a final state.
//
// Contract (ListFinished(ctx, state, cursor, limit)):
//   - state must be final (Completed or Compensated), and cursor "" (the
//     oldest entry still retained) or a Page.Next of the same store and
//     state; otherwise ErrBadCursor.
//   - Records are sagas currently in state, in the order they finished,
//     oldest first, at most limit of them (DefaultPageSize when limit is 0
//     or less), each with its Version. Entries whose record has left the
//     state, vanished or does not decode are skipped.
//   - Next is the cursor of the following page: the position after the
//     last entry this page read. Paging from "" to the end lists every
//     saga that finished in state before the first page was read and is
//     still retained, exactly once: entries never move, and sagas that
//     finish while a caller pages are added after the entries already
//     written (up to the clock skew between a store's nodes, where the
//     order is a node's time), each listed at most once.
//   - More reports whether the index held entries past Next when read;
//     when false a caller may keep Next and ask again later for sagas
//     that finished since.
type Page struct {
	Records []Record
	Next    string
	More    bool
}

// ListFinal implements List for a final state through s.ListFinished:
// pages from the oldest retained saga until limit records (0: every
// retained one).
func ListFinal(ctx context.Context, s Store, state State, limit int) ([]Record, error) {
	var out []Record
	cursor := ""
	for {
		size := DefaultPageSize
		if limit > 0 {
			size = min(size, limit-len(out))
		}
		p, err := s.ListFinished(ctx, state, cursor, size)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Records...)
		if !p.More || limit > 0 && len(out) >= limit {
			return out, nil
		}
		cursor = p.Next
	}
}

// CheckFinal returns ErrBadCursor unless state is final, and the page size
// for limit.
func CheckFinal(state State, limit int) (int, error) {
	if !state.Final() {
		return 0, fmt.Errorf("%w: %q is not a final state", ErrBadCursor, state)
	}
	if limit <= 0 {
		return DefaultPageSize, nil
	}
	return limit, nil
}
