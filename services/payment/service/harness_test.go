package service_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one peer running as a process of the service's binary.
type proc struct {
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port
	log  string // its stderr
	done chan struct{}
}

// buildBinary builds the service's main into dir.
func buildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "service")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// startProc starts bin with env and waits for its /readyz.
func startProc(bin, logDir string, env []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp(logDir, "peer-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("CATGA_HTTP_ADDR=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: logf.Name(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(p.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/readyz", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("peer exited before it was ready:\n%s", p.tail())
		case <-ctx.Done():
			p.kill()
			return nil, fmt.Errorf("peer not ready within 30s:\n%s", p.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill ends the peer with SIGKILL: nothing of it runs after this.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop ends the peer with SIGTERM, then SIGKILL after 20s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
