package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// The bench-only processes: the report's binary run with EnvRole set.
// They take their settings from the environment, print ReadyLine once
// they serve, and stop on SIGTERM (gracefully) or SIGKILL (the crash a
// scenario injects).
const (
	EnvRole        = "BENCH_ROLE"        // RoleResponder or RoleSagaPeer
	EnvNATS        = "BENCH_NATS_URL"    // the nats-server
	EnvName        = "BENCH_NAME"        // the process's name (a saga peer's owner id)
	EnvConcurrency = "BENCH_CONCURRENCY" // responder: requests handled at once (transport.WithConcurrency)
	EnvWait        = "BENCH_WAIT"        // responder: simulated I/O wait per request; saga peer: length of the slow step

	RoleResponder = "responder"
	RoleSagaPeer  = "saga-peer"
)

// Work is the responder's request and response.
type Work struct {
	Seq  uint64 `json:"seq"`
	Peer string `json:"peer,omitempty"`
}

// WorkRoute is the route the responders serve.
var WorkRoute = transport.NewRoute[Work, Work]("bench.work")

// RunRole runs the bench-only process role until SIGTERM.
func RunRole(role string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch role {
	case RoleResponder:
		return responder(ctx)
	case RoleSagaPeer:
		return sagaPeer(ctx)
	default:
		return fmt.Errorf("catga: bench: unknown %s %q", EnvRole, role)
	}
}

func envDuration(k string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(k)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("catga: bench: %s=%q: %w", k, v, err)
	}
	return d, nil
}

// responder serves WorkRoute: each request waits EnvWait (the I/O a real
// handler would), EnvConcurrency of them at once, so a peer's capacity is
// concurrency / wait whatever the CPUs.
func responder(ctx context.Context) error {
	wait, err := envDuration(EnvWait, 10*time.Millisecond)
	if err != nil {
		return err
	}
	conc, err := strconv.Atoi(os.Getenv(EnvConcurrency))
	if err != nil || conc < 1 {
		return fmt.Errorf("catga: bench: %s=%q: want a positive number", EnvConcurrency, os.Getenv(EnvConcurrency))
	}
	name := os.Getenv(EnvName)
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{os.Getenv(EnvNATS)}, Name: name})
	if err != nil {
		return err
	}
	m := mediator.New()
	if err := mediator.Handle(m, func(ctx context.Context, w Work) (Work, error) {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return Work{}, ctx.Err()
		case <-t.C:
		}
		return Work{Seq: w.Seq, Peer: name}, nil
	}); err != nil {
		return err
	}
	if _, err := transport.Serve(tr, m, WorkRoute, transport.WithConcurrency(conc), transport.WithoutIdempotency()); err != nil {
		return errors.Join(err, tr.Close())
	}
	if err := tr.Conn().Flush(); err != nil {
		return errors.Join(err, tr.Close())
	}
	fmt.Println(ReadyLine)
	<-ctx.Done()
	return tr.Close() // graceful: leaves the queue group, answers what it holds
}

// SagaEvent is what a saga peer publishes on SagaEventSubject when its
// slow step starts (Step "slow") and when a saga's last step runs
// (Step "done").
type SagaEvent struct {
	Saga string `json:"saga"`
	Peer string `json:"peer"`
	Step string `json:"step"`
}

// Subjects of the saga peers: events out, start requests in (one subject
// a peer: SagaStartSubject + "." + its name).
const (
	SagaEventSubject = "bench.saga.event"
	SagaStartSubject = "bench.saga.start"
)

type sagaData struct{ ID string }

// sagaPeer runs a saga engine on NATS KV (the embedded stack's store)
// with the platform's default lease TTL and recovery interval, and one
// definition: a slow step (EnvWait), then a last step. It starts a saga
// (id in the request's body) when asked on its start subject.
func sagaPeer(ctx context.Context) error {
	slow, err := envDuration(EnvWait, 3*time.Second)
	if err != nil {
		return err
	}
	name := os.Getenv(EnvName)
	nc, err := nats.Connect(os.Getenv(EnvNATS), nats.Name(name))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	store, err := natskv.New(ctx, js, natskv.Config{Bucket: "bench_sagas"})
	if err != nil {
		return err
	}
	emit := func(id, step string) {
		b, _ := json.Marshal(SagaEvent{Saga: id, Peer: name, Step: step})
		_ = nc.Publish(SagaEventSubject, b)
		_ = nc.Flush()
	}
	e := saga.New(store, saga.WithOwner(name))
	s, err := saga.Register(e, saga.Definition[sagaData]{Name: "bench-recovery", Steps: []saga.Step[sagaData]{
		{Name: "slow", Action: func(ctx context.Context, d *sagaData) error {
			emit(d.ID, "slow")
			t := time.NewTimer(slow)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}},
		{Name: "done", Action: func(ctx context.Context, d *sagaData) error {
			emit(d.ID, "done")
			return nil
		}},
	}})
	if err != nil {
		return err
	}
	if err := e.Start(); err != nil {
		return err
	}
	sub, err := nc.Subscribe(SagaStartSubject+"."+name, func(m *nats.Msg) {
		if _, err := s.Start(ctx, string(m.Data), sagaData{ID: string(m.Data)}); err != nil {
			_ = m.Respond([]byte("error: " + err.Error()))
			return
		}
		_ = m.Respond([]byte("ok"))
	})
	if err != nil {
		return errors.Join(err, e.Close(context.Background()))
	}
	_ = nc.Flush()
	fmt.Println(ReadyLine)
	<-ctx.Done()
	_ = sub.Unsubscribe()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.Close(cctx) // graceful: releases the leases so another peer takes over at once
}
