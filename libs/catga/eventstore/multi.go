package eventstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// StreamAppend is one stream's part of a multi-stream append: events to
// append to StreamID if it is at ExpectedVersion (as in [Store.Append]).
type StreamAppend struct {
	StreamID        string
	ExpectedVersion int64
	Events          []Event
}

// PreparedAppend is a [StreamAppend] validated and encoded by
// [PrepareMulti], for implementations.
type PreparedAppend struct {
	// Index is the append's place in the caller's slice: results are
	// returned in that order.
	Index           int
	StreamID        string
	ExpectedVersion int64
	Records         []Record
}

// PrepareMulti validates a multi-stream append and encodes each part as
// [Prepare] does. It returns the parts sorted by stream id: implementations
// lock streams in that order, so two multi-appends over overlapping streams
// wait for each other instead of deadlocking. A stream may appear only once.
func PrepareMulti(ctx context.Context, reg *Registry, appends []StreamAppend) ([]PreparedAppend, error) {
	if len(appends) == 0 {
		return nil, fmt.Errorf("%w: no streams to append to", ErrInvalidArgument)
	}
	out := make([]PreparedAppend, len(appends))
	for i, a := range appends {
		recs, err := Prepare(ctx, reg, a.StreamID, a.ExpectedVersion, a.Events)
		if err != nil {
			return nil, err
		}
		out[i] = PreparedAppend{Index: i, StreamID: a.StreamID, ExpectedVersion: a.ExpectedVersion, Records: recs}
	}
	slices.SortFunc(out, func(a, b PreparedAppend) int { return strings.Compare(a.StreamID, b.StreamID) })
	for i := 1; i < len(out); i++ {
		if out[i].StreamID == out[i-1].StreamID {
			return nil, fmt.Errorf("%w: stream %q appears twice in one append", ErrInvalidArgument, out[i].StreamID)
		}
	}
	return out, nil
}
