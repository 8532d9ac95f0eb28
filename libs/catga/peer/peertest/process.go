package peertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/loopback"
	"github.com/catga-go/catga/libs/catga/peer"
)

// Options describe one peer process.
type Options struct {
	// NATSURL is the NATS server (CATGA_NATS_URL), e.g. [NATS]'s
	// ClientURL(). Required unless Env sets CATGA_NATS_URL.
	NATSURL string
	// Env holds KEY=VALUE settings on top of the defaults: peers of one
	// service that should share a store get the same CATGA_SQLITE_PATH
	// (or CATGA_DATABASE_URL). Variables of the test process named CATGA_*
	// or OTEL_* are not passed on, so a developer's shell does not leak
	// into the test.
	Env []string
	// Name labels the process in logs (default the binary's name and a
	// number).
	Name string
	// ReadyTimeout bounds the wait for /readyz (default 30s).
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM (default 30s).
	StopTimeout time.Duration
}

// Process is a running peer.
type Process struct {
	// Name labels the process, e.g. "payment-2".
	Name string
	// URL is the peer's HTTP base URL, e.g. "http://127.0.0.1:41237".
	URL string

	cmd         *exec.Cmd
	out         *syncBuffer
	exited      chan struct{}
	waitErr     error
	stopTimeout time.Duration
	stopOnce    sync.Once
	stopErr     error
	signalled   atomic.Bool // the test signalled or killed it
}

var counter atomic.Int64

// Start runs binary as a peer with opts, waits until its /readyz answers
// 200, and stops it (SIGTERM) when t ends. It fails t, showing the peer's
// output, if the peer does not become ready.
func Start(t testing.TB, binary string, opts Options) *Process {
	t.Helper()
	p, err := Spawn(t, binary, opts)
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	return p
}

// StartPeers starts n peers of binary with the same options, as [Start]
// does, named "<Name>-1".. (Name defaulting to the binary's name). Give
// them a shared store in opts.Env.
func StartPeers(t testing.TB, n int, binary string, opts Options) []*Process {
	t.Helper()
	base := opts.Name
	if base == "" {
		base = filepath.Base(binary)
	}
	out := make([]*Process, n)
	for i := range out {
		opts.Name = fmt.Sprintf("%s-%d", base, i+1)
		out[i] = Start(t, binary, opts)
	}
	return out
}

// Spawn is [Start] returning the error instead of failing t: for a test
// that expects the peer to refuse to start.
func Spawn(t testing.TB, binary string, opts Options) (*Process, error) {
	t.Helper()
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("%s-%d", filepath.Base(binary), counter.Add(1))
	}
	ports, err := loopback.Ports("127.0.0.1", 1)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	// No drain delay: no load balancer polls a component test's peers, so
	// waiting for one to take the peer out would only slow every stop.
	env := []string{peer.EnvHTTPAddr + "=" + addr, peer.EnvShutdownTimeout + "=" + opts.StopTimeout.String(), peer.EnvDrainDelay + "=0s"}
	if opts.NATSURL != "" {
		env = append(env, peer.EnvNATSURL+"="+opts.NATSURL)
	}
	p := &Process{
		Name: opts.Name, URL: "http://" + addr,
		out: &syncBuffer{}, exited: make(chan struct{}), stopTimeout: opts.StopTimeout,
	}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(append(inherited(), env...), opts.Env...)
	p.cmd.Dir = t.TempDir() // the default SQLite path, data/<service>.db, lands here
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("peertest: %v", err)
		}
		if t.Failed() {
			t.Logf("peertest: output of %s:\n%s", p.Name, p.Output())
		}
	})
	if err := p.awaitReady(opts.ReadyTimeout); err != nil {
		p.Kill()
		p.stopOnce.Do(func() {}) // reported here; the cleanup's Stop has nothing to add
		return nil, fmt.Errorf("%s: %w\noutput:\n%s", p.Name, err, p.Output())
	}
	return p, nil
}

// inherited is the test process's environment without CATGA_* and OTEL_*.
func inherited() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CATGA_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *Process) awaitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		resp, err := client.Get(p.URL + peer.PathReady)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-p.exited:
			if p.waitErr == nil {
				return errors.New("exited (status 0) before it was ready")
			}
			return fmt.Errorf("exited before it was ready: %w", p.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 within %s: %w", timeout, last)
		}
	}
}

// Stop sends SIGTERM and waits for the peer to exit, up to the stop
// timeout; then it kills it. It returns an error unless the peer exited
// cleanly (status 0) in time. A peer that exited before (killed by the
// test, or crashed: an error) is not signalled. Stopping a stopped peer
// returns the first result again.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited: // killed or crashed already
			if p.waitErr != nil && !p.signalled.Load() {
				p.stopErr = fmt.Errorf("%s exited on its own: %w", p.Name, p.waitErr)
			}
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.waitErr != nil {
				p.stopErr = fmt.Errorf("%s: unclean exit after SIGTERM: %w", p.Name, p.waitErr)
			}
		case <-time.After(p.stopTimeout):
			p.Kill()
			p.stopErr = fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.Name, p.stopTimeout)
		}
	})
	return p.stopErr
}

// Signal sends sig to the process (for what Stop and Kill do not cover).
// Its exit then counts as the test's doing: Stop does not report it.
func (p *Process) Signal(sig os.Signal) error {
	p.signalled.Store(true)
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL, as a crash would, and waits for the process to go.
func (p *Process) Kill() {
	p.signalled.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output is what the process wrote to stdout and stderr so far (its JSON
// log lines).
func (p *Process) Output() string { return p.out.String() }

// WaitOutput waits until the output contains s, or ctx ends.
func (p *Process) WaitOutput(ctx context.Context, s string) error {
	for !strings.Contains(p.Output(), s) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never wrote %q: %w", p.Name, s, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
