package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// ErrOverload counts a request the open loop did not send because
// LoadConfig.MaxInFlight were outstanding: the system is past saturation
// and the run stays bounded in memory.
var ErrOverload = errors.New("catga: bench: too many requests in flight; not sent")

// Op is one request of a load. It returns nil when the request succeeded.
type Op func(ctx context.Context, seq uint64) error

// LoadConfig is an open-loop run: requests start at Rate per second for
// Duration whatever the answers, each in its own goroutine.
type LoadConfig struct {
	Rate        int           // requests per second, > 0
	Duration    time.Duration // how long requests are started, > 0
	Timeout     time.Duration // bound of each request (default 10s)
	MaxInFlight int           // outstanding requests beyond which one is dropped as ErrOverload (default 10000)
}

// LoadResult is what an open-loop run measured.
type LoadResult struct {
	Offered  int   // the configured rate
	Sent     int64 // requests started
	OK       int64
	Failed   int64 // errors, timeouts and drops
	Dropped  int64 // of Failed: not sent (ErrOverload)
	Achieved float64
	// Latency of the successful requests, each from its intended start
	// (the pacer's schedule) to its answer: a request that could not
	// start on time is charged the delay.
	Latency  *Hist
	FirstErr error
}

// ErrorShare is the fraction of requests started that failed.
func (r LoadResult) ErrorShare() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Failed) / float64(r.Sent)
}

// Intended is when request seq (0-based) of a constant-rate run that
// began at began is due: vegeta's ConstantPacer releases the first one
// interval after the start.
func Intended(began time.Time, seq uint64, rate int) time.Time {
	interval := time.Second / time.Duration(rate)
	return began.Add(time.Duration(seq+1) * interval)
}

// OpenLoop runs op at cfg.Rate for cfg.Duration, paced by vegeta's
// ConstantPacer, and waits for the requests in flight (each bounded by
// cfg.Timeout). Achieved is successful requests per second, over the
// schedule or until the last answer if that came later.
// It stops early when ctx ends.
func OpenLoop(ctx context.Context, cfg LoadConfig, op Op) (LoadResult, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 {
		return LoadResult{}, fmt.Errorf("catga: bench: open loop needs a rate and a duration, got %d/s for %s", cfg.Rate, cfg.Duration)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 10000
	}
	pacer := vegeta.ConstantPacer{Freq: cfg.Rate, Per: time.Second}
	res := LoadResult{Offered: cfg.Rate, Latency: NewHist()}
	var (
		mu                  sync.Mutex
		wg                  sync.WaitGroup
		inFlight            atomic.Int64
		ok, failed, dropped atomic.Int64
		hits                uint64
		lastDone            time.Time
	)
	began := time.Now()
	for ctx.Err() == nil {
		elapsed := time.Since(began)
		if elapsed >= cfg.Duration {
			break
		}
		wait, stop := pacer.Pace(elapsed, hits)
		if stop {
			break
		}
		if wait > 0 {
			sleep(ctx, min(wait, cfg.Duration-elapsed+time.Millisecond))
			continue
		}
		seq := hits
		hits++
		due := Intended(began, seq, cfg.Rate)
		if inFlight.Load() >= int64(cfg.MaxInFlight) {
			failed.Add(1)
			dropped.Add(1)
			mu.Lock()
			res.FirstErr = cmpErr(res.FirstErr, ErrOverload)
			mu.Unlock()
			continue
		}
		inFlight.Add(1)
		wg.Go(func() {
			defer inFlight.Add(-1)
			octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
			err := op(octx, seq)
			done := time.Now()
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(1)
				res.FirstErr = cmpErr(res.FirstErr, err)
				return
			}
			ok.Add(1)
			res.Latency.Record(done.Sub(due))
			if done.After(lastDone) {
				lastDone = done
			}
		})
	}
	wg.Wait()
	// Achieved is over the time until the last answer: past saturation
	// answers trail the schedule, and counting them against the schedule's
	// length alone would overstate what the system sustained.
	runFor := max(lastDone.Sub(began), cfg.Duration)
	res.Sent = int64(hits)
	res.OK, res.Failed, res.Dropped = ok.Load(), failed.Load(), dropped.Load()
	res.Achieved = float64(res.OK) / runFor.Seconds()
	return res, ctx.Err()
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ClosedLoop runs op from workers goroutines back to back for d (each
// call bounded by timeout): the throughput a system sustains with that
// many requests outstanding. Not for latency under load: a closed loop
// waits for slow answers instead of charging them (use OpenLoop).
func ClosedLoop(ctx context.Context, workers int, d, timeout time.Duration, op Op) (LoadResult, error) {
	if workers <= 0 || d <= 0 {
		return LoadResult{}, fmt.Errorf("catga: bench: closed loop needs workers and a duration, got %d for %s", workers, d)
	}
	res := LoadResult{Latency: NewHist()}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		seq atomic.Uint64
	)
	began := time.Now()
	stop := began.Add(d)
	for range workers {
		wg.Go(func() {
			h := NewHist()
			var ok, failed int64
			var first error
			for ctx.Err() == nil && time.Now().Before(stop) {
				octx, cancel := context.WithTimeout(ctx, timeout)
				t0 := time.Now()
				err := op(octx, seq.Add(1)-1)
				cancel()
				if err != nil {
					failed++
					first = cmpErr(first, err)
					continue
				}
				ok++
				h.Record(time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			res.Latency.Merge(h)
			res.OK += ok
			res.Failed += failed
			res.FirstErr = cmpErr(res.FirstErr, first)
		})
	}
	wg.Wait()
	res.Sent = res.OK + res.Failed
	res.Achieved = float64(res.OK) / time.Since(began).Seconds()
	return res, ctx.Err()
}
