package transport

import (
	"context"
	"testing"
	"time"
)

func TestSplitDeadline(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := time.Now().Add(time.Hour)
	lazy := withDeadline(parent, d)
	defer lazy.release()
	if p, got, ok := SplitDeadline(lazy); !ok || p != parent || !got.Equal(d) {
		t.Errorf("lazy: parent ok=%v same=%v deadline %v, want %v", ok, p == parent, got, d)
	}
	_ = lazy.Done() // makes the timer: from now on ctx.Done is the way to wait
	if _, _, ok := SplitDeadline(lazy); ok {
		t.Error("split after Done made the timer")
	}
	if _, _, ok := SplitDeadline(parent); ok {
		t.Error("split a context this package did not make")
	}
}
