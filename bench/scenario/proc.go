package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a process a scenario started: a service's peer or a bench role.
type Proc struct {
	Name string
	URL  string // HTTP base URL, for a service's peer

	cmd    *exec.Cmd
	tail   *tail
	exited chan struct{}
	ready  chan struct{} // closed when the process printed ReadyLine
}

// ReadyLine is what a bench role prints once it serves.
const ReadyLine = "catga-bench: ready"

// startProc runs bin with env on top of this process's environment (less
// CATGA_*), keeping the tail of its output.
func startProc(name, bin string, env []string) (*Proc, error) {
	p := &Proc{Name: name, tail: &tail{max: 16 << 10}, exited: make(chan struct{}), ready: make(chan struct{})}
	p.cmd = exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CATGA_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the report
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("catga: bench: start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, ReadyLine) {
				once.Do(func() { close(p.ready) })
			}
			_, _ = p.tail.Write([]byte(line + "\n"))
		}
		_, _ = io.Copy(io.Discard, out)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// awaitReady waits for the peer's /readyz to answer 200, or for the
// ReadyLine when the process has no URL.
func (p *Proc) awaitReady(timeout time.Duration) error {
	deadline := time.After(timeout)
	if p.URL == "" {
		select {
		case <-p.ready:
			return nil
		case <-p.exited:
			return fmt.Errorf("catga: bench: %s exited before it was ready:\n%s", p.Name, p.tail)
		case <-deadline:
			return fmt.Errorf("catga: bench: %s not ready within %s:\n%s", p.Name, timeout, p.tail)
		}
	}
	c := &http.Client{Timeout: time.Second}
	for {
		if resp, err := c.Get(p.URL + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("catga: bench: %s exited before it was ready:\n%s", p.Name, p.tail)
		case <-deadline:
			return fmt.Errorf("catga: bench: %s: /readyz not 200 within %s:\n%s", p.Name, timeout, p.tail)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and waits up to timeout, then kills.
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("catga: bench: %s did not stop within %s of SIGTERM; killed", p.Name, timeout)
	}
}

// Output is the tail of what the process wrote.
func (p *Proc) Output() string { return p.tail.String() }

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// BuildServices compiles the named services of the repository at root
// into dir and returns their binaries by name.
func BuildServices(ctx context.Context, root, dir string, names ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		bin := filepath.Join(dir, n)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = filepath.Join(root, "services", n)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("catga: bench: go build services/%s: %w\n%s", n, err, b)
		}
		out[n] = bin
	}
	return out, nil
}

// RepoRoot is the nearest directory up from the working directory that
// holds go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("catga: bench: not inside the repository (no go.work above the working directory)")
		}
		dir = parent
	}
}
