package natstransport_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/redisstore"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Environment of the responder process (the test binary re-executed).
const (
	responderEnv   = "CATGA_NATS_DOOMED_RESPONDER" // "1" selects responder mode
	responderNATS  = "CATGA_NATS_DOOMED_RESPONDER_NATS"
	responderRedis = "CATGA_NATS_DOOMED_RESPONDER_REDIS"
)

// effectsKey is the Redis hash counting handler effects by message id,
// written by every responder, in or out of this process.
const effectsKey = "effects"

// serveCharge serves Charge in the "payment" group with the shared Redis
// idempotency store and a 1s lease; handle runs under the message id.
func serveCharge(tr transport.Transport, rdb *redis.Client, handle func(ctx context.Context, id string, req Charge) (Charged, error)) error {
	m := mediator.New()
	_ = mediator.Handle(m, func(ctx context.Context, req Charge) (Charged, error) {
		md, _ := catga.MetadataFrom(ctx)
		return handle(ctx, md.MessageID, req)
	})
	_, err := transport.Serve(tr, m, chargeRoute,
		transport.WithIdempotency(redisstore.New(rdb)), transport.WithLease(time.Second))
	return err
}

// TestKillResponderProcessMidRequest: a responder in another process gets
// a request, claims its message id in Redis and is SIGKILLed before its
// effect. The caller's retry (same message id) reaches the surviving peer
// once the dead claim's lease expires: the caller gets its reply and the
// effect, counted in Redis by every peer, happens exactly once. Later
// requests are each applied once too.
func TestKillResponderProcessMidRequest(t *testing.T) {
	if os.Getenv(responderEnv) == "1" {
		os.Exit(runDoomedResponder())
	}
	if testing.Short() {
		t.Skip("starts a 3-node embedded nats-server cluster, a redis-server and a responder process: skipped in -short mode")
	}
	rdb := redistest.Start(t)
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	peer := startDoomedResponder(t, c.URLs()[0], rdb.Options().Addr)
	if err := peer.await(ctx, "ready"); err != nil {
		t.Fatal(err)
	}

	_, m := c.caller(t, 2, transport.WithAttemptTimeout(1500*time.Millisecond))
	const id = "kill-process-mid-request"
	type result struct {
		resp Charged
		err  error
	}
	done := make(chan result, 1)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // Send ends with ctx
	wg.Go(func() {
		sctx := catga.WithMetadata(ctx, catga.Metadata{MessageID: id})
		resp, err := mediator.Send[Charged](sctx, m, Charge{N: 1})
		done <- result{resp, err}
	})
	// Only the doomed peer serves "payment" yet, so the first attempt is
	// its own; it signals once it holds the claim and is in the handler.
	if err := peer.await(ctx, "started "+id); err != nil {
		t.Fatal(err)
	}
	// The doomed peer holds the claim (a pending marker with the lease as
	// its TTL): the survivor can only run the handler once it lapses.
	if v, err := rdb.Get(ctx, "catga:idem:"+chargeRoute.Subject()+":"+id).Result(); err != nil || !strings.HasPrefix(v, "P") {
		t.Fatalf("claim of %s while the doomed peer is in its handler: %q, %v; want pending", id, v, err)
	}

	survivor := c.peerOn(t, 1, "survivor")
	if err := serveCharge(survivor, rdb, func(ctx context.Context, id string, req Charge) (Charged, error) {
		if err := rdb.HIncrBy(ctx, effectsKey, id, 1).Err(); err != nil {
			return Charged{}, err
		}
		return Charged{N: req.N, Peer: "survivor"}, nil
	}); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := survivor.Conn().Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	if err := peer.kill(ctx); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("no reply within 15s of the first request")
	}
	if res.err != nil {
		t.Fatalf("Send: %v", res.err)
	}
	if res.resp.Peer != "survivor" || res.resp.N != 1 {
		t.Errorf("reply %+v, want N 1 from the survivor", res.resp)
	}

	ids := []string{id}
	for i := range 20 {
		id := fmt.Sprintf("after-kill-%d", i)
		ids = append(ids, id)
		resp, err := mediator.Send[Charged](catga.WithMetadata(ctx, catga.Metadata{MessageID: id}), m, Charge{N: i})
		if err != nil || resp.N != i {
			t.Fatalf("request %s: %+v, %v", id, resp, err)
		}
	}
	effects, err := rdb.HGetAll(ctx, effectsKey).Result()
	if err != nil {
		t.Fatalf("read effects: %v", err)
	}
	for _, id := range ids {
		if effects[id] != "1" {
			t.Errorf("message %s had %q effects, want exactly 1", id, effects[id])
		}
	}
	if len(effects) != len(ids) {
		t.Errorf("effects recorded for %d message ids, want %d: %v", len(effects), len(ids), effects)
	}
}

// doomedResponder is the re-executed test binary, seen from the test.
type doomedResponder struct {
	cmd    *exec.Cmd
	lines  chan string   // its stdout, closed at EOF
	exited chan struct{} // closed once cmd.Wait returned
	stderr *strings.Builder
}

func startDoomedResponder(t *testing.T, natsURL, redisAddr string) *doomedResponder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillResponderProcessMidRequest$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), responderEnv+"=1", responderNATS+"="+natsURL, responderRedis+"="+redisAddr)
	cmd.SysProcAttr = peerSysProcAttr()
	p := &doomedResponder{cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{}), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start responder process: %v", err)
	}
	// Owned by the cleanup below, which kills the process and waits. EOF
	// on stdout comes when the process is gone; only then may Wait run.
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody is listening for more; drop
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait() // ProcessState tells how it ended
		close(p.exited)
	})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		wg.Wait()
	})
	return p
}

// await reads the responder's stdout until the line want.
func (p *doomedResponder) await(ctx context.Context, want string) error {
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.exited // Wait has returned: ProcessState and stderr are complete
				return fmt.Errorf("responder exited before %q: %s\n%s", want, p.cmd.ProcessState, p.stderr.String())
			}
			if line == want {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("responder did not print %q in time", want)
		}
	}
}

// kill SIGKILLs the responder and checks that the signal is what ended it.
func (p *doomedResponder) kill(ctx context.Context) error {
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill responder: %w", err)
	}
	select {
	case <-p.exited:
		// ProcessState says "signal: killed" only for a SIGKILL death.
		if st := p.cmd.ProcessState.String(); !strings.Contains(st, "killed") {
			return fmt.Errorf("responder ended with %q, want killed by SIGKILL\n%s", st, p.stderr.String())
		}
		return nil
	case <-ctx.Done():
		return errors.New("responder still running after SIGKILL")
	}
}

// runDoomedResponder is the body of the responder process. It serves
// Charge; its handler says it has the request (the claim is taken by
// then), then blocks, and would record the effect only afterwards: the
// test SIGKILLs it in between. The block is bounded so that a process the
// test failed to kill still ends, and then double-counts, which the test
// would catch.
func runDoomedResponder() int {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(responderRedis)})
	defer func() { _ = rdb.Close() }()
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{os.Getenv(responderNATS)}, Name: "doomed"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "responder:", err)
		return 2
	}
	defer func() { _ = tr.Close() }()
	var stdout sync.Mutex
	say := func(line string) {
		stdout.Lock()
		fmt.Println(line)
		stdout.Unlock()
	}
	err = serveCharge(tr, rdb, func(ctx context.Context, id string, req Charge) (Charged, error) {
		say("started " + id)
		time.Sleep(20 * time.Second) // the kill lands here; ctx is ignored, as by a stuck process
		if err := rdb.HIncrBy(context.WithoutCancel(ctx), effectsKey, id, 1).Err(); err != nil {
			return Charged{}, err
		}
		return Charged{N: req.N, Peer: "doomed"}, nil
	})
	if err == nil {
		err = tr.Conn().Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "responder:", err)
		return 2
	}
	say("ready")
	time.Sleep(30 * time.Second) // bounded: the test kills us long before
	fmt.Fprintln(os.Stderr, "responder: not killed")
	return 3
}
