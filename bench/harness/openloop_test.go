package harness

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The pacer keeps the rate: requests start on schedule however slow the
// answers are (the open loop does not wait for them).
func TestOpenLoopKeepsTheRate(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	res, err := OpenLoop(context.Background(), LoadConfig{Rate: 200, Duration: time.Second}, func(ctx context.Context, _ uint64) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(50 * time.Millisecond) // slow answers: 10 in flight at once
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 195 || res.Sent > 201 {
		t.Fatalf("sent %d requests at 200/s for 1s, want 200", res.Sent)
	}
	if res.OK != res.Sent || res.Failed != 0 {
		t.Fatalf("ok %d failed %d of %d", res.OK, res.Failed, res.Sent)
	}
	// Starts spread evenly: no half second holds more than 55% of them.
	first := starts[0]
	var firstHalf int
	for _, s := range starts {
		if s.Sub(first) < 500*time.Millisecond {
			firstHalf++
		}
	}
	if share := float64(firstHalf) / float64(len(starts)); share < .45 || share > .55 {
		t.Fatalf("%.0f%% of the starts in the first half second, want about 50%%", share*100)
	}
	if res.Achieved < 150 || res.Achieved > 205 {
		t.Fatalf("achieved %.0f/s, want about 200 (the 50ms answers trail the schedule by 50ms)", res.Achieved)
	}
	if p50 := res.Latency.Quantile(.5); p50 < 50*time.Millisecond || p50 > 150*time.Millisecond {
		t.Fatalf("p50 %v, want about 50ms (at most 150ms on a loaded machine)", p50)
	}
}

// A stall of the system under test is charged to every request it
// delays, not only to the one that was in flight (coordinated omission):
// 200 ms during which nothing is answered at 100/s delays about 20
// requests, and their latencies show it.
func TestOpenLoopChargesStallsToEveryDelayedRequest(t *testing.T) {
	var server sync.Mutex // one request at a time, as a stalled server would serve
	begin := time.Now()
	res, err := OpenLoop(context.Background(), LoadConfig{Rate: 100, Duration: time.Second}, func(ctx context.Context, seq uint64) error {
		server.Lock()
		defer server.Unlock()
		if seq == 30 {
			time.Sleep(200 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slow := res.Latency.Count() - countBelow(res.Latency, 20*time.Millisecond)
	if slow < 15 {
		t.Fatalf("%d requests took ≥ 20ms, want the ~20 the 200ms stall delayed (took %v)", slow, time.Since(begin))
	}
	if mx := res.Latency.Max(); mx < 190*time.Millisecond {
		t.Fatalf("max %v, want ≥ the 200ms stall", mx)
	}
}

func TestOpenLoopCountsErrorsAndDrops(t *testing.T) {
	boom := errors.New("boom")
	res, err := OpenLoop(context.Background(), LoadConfig{Rate: 100, Duration: 500 * time.Millisecond, Timeout: 100 * time.Millisecond, MaxInFlight: 5}, func(ctx context.Context, seq uint64) error {
		if seq%2 == 1 {
			return boom
		}
		<-ctx.Done() // never answers: times out
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Failed != res.Sent || res.Dropped == 0 {
		t.Fatalf("ok %d failed %d dropped %d of %d: want all failed, some dropped at 5 in flight", res.OK, res.Failed, res.Dropped, res.Sent)
	}
	if res.ErrorShare() != 1 {
		t.Fatalf("error share %v, want 1", res.ErrorShare())
	}
}

func TestOpenLoopRefusesNoRate(t *testing.T) {
	if _, err := OpenLoop(context.Background(), LoadConfig{Duration: time.Second}, nil); err == nil {
		t.Fatal("no error for rate 0")
	}
}

func TestIntended(t *testing.T) {
	b := time.Unix(0, 0)
	if got := Intended(b, 0, 100); !got.Equal(b.Add(10 * time.Millisecond)) {
		t.Errorf("seq 0 at %v", got.Sub(b))
	}
	if got := Intended(b, 99, 100); !got.Equal(b.Add(time.Second)) {
		t.Errorf("seq 99 at %v", got.Sub(b))
	}
}

// countBelow counts the latencies below d.
func countBelow(h *Hist, d time.Duration) int64 {
	var n int64
	for _, b := range h.h.Distribution() {
		if time.Duration(b.To)*time.Microsecond < d {
			n += b.Count
		}
	}
	return n
}

// A closed loop keeps every caller busy: 4 callers over an operation
// taking d on average sustain 4/d per second (d measured, since a loaded
// machine oversleeps).
func TestClosedLoopThroughput(t *testing.T) {
	var mu sync.Mutex
	var busy time.Duration
	var n int
	res, err := ClosedLoop(context.Background(), 4, 500*time.Millisecond, time.Second, func(ctx context.Context, _ uint64) error {
		t0 := time.Now()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		busy += time.Since(t0)
		n++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := 4 / (busy / time.Duration(n)).Seconds()
	if res.Achieved < 0.85*want || res.Achieved > 1.05*want {
		t.Fatalf("achieved %.0f/s, want about %.0f (4 callers, %v an operation)", res.Achieved, want, busy/time.Duration(n))
	}
	if res.Failed != 0 || res.OK != res.Sent || res.OK != int64(n) {
		t.Fatalf("ok %d failed %d sent %d, ran %d", res.OK, res.Failed, res.Sent, n)
	}
	if _, err := ClosedLoop(context.Background(), 0, time.Second, time.Second, nil); err == nil {
		t.Fatal("no error for 0 workers")
	}
}
