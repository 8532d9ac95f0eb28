package compose

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// stack is one docker-compose project of deploy/compose.yaml.
type stack struct {
	t       *testing.T
	file    string            // deploy/compose.yaml
	project string            // unique: several runs never share containers
	envFile string            // the secrets of this run
	env     map[string]string // what envFile holds
}

// repoRoot is the repository's root, from this file's path.
func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// newStack writes an env file with a random secret for every *_PASSWORD of
// deploy/.env.example (a variable added there is covered without touching
// this test) and a free /24 for the Redis nodes.
func newStack(t *testing.T, subnet string) *stack {
	root := repoRoot(t)
	s := &stack{t: t, file: filepath.Join(root, "deploy", "compose.yaml"),
		project: "catgasmoke" + randHex(t, 4), env: map[string]string{"CATGA_SUBNET": subnet}}
	f, err := os.Open(filepath.Join(root, "deploy", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, _, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") && strings.HasSuffix(k, "_PASSWORD") {
			s.env[k] = randHex(t, 16)
		}
	}
	if len(s.env) < 10 {
		t.Fatalf("deploy/.env.example lists %d passwords: expected one per service and server user", len(s.env)-1)
	}
	var b strings.Builder
	for k, v := range s.env {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	s.envFile = filepath.Join(t.TempDir(), "smoke.env")
	if err := os.WriteFile(s.envFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// compose runs docker-compose on the project, bounded by ctx; the error
// carries its output.
func (s *stack) compose(ctx context.Context, args ...string) (string, error) {
	all := append([]string{"-p", s.project, "-f", s.file, "--env-file", s.envFile}, args...)
	cmd := exec.CommandContext(ctx, "docker-compose", all...)
	cmd.WaitDelay = 5 * time.Second
	// Image names (CATGA_IMAGE_*) come from this process's environment; the
	// secrets only from the env file, never from the caller's.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(k, "_PASSWORD") && k != "CATGA_SUBNET" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 40))
	}
	return out.String(), nil
}

// down removes every container, network and volume of the project, and
// checks that none is left.
func (s *stack) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := s.compose(ctx, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		s.t.Errorf("tear down: %v", err)
	}
	out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project).Output()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		s.t.Errorf("tear down left containers of %s: %q %v", s.project, out, err)
	}
	s.t.Logf("compose: down in %s", time.Since(start).Round(time.Millisecond))
}

// logs prints the last lines of every container's log (on failure).
func (s *stack) logs() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := s.compose(ctx, "ps")
	s.t.Logf("compose ps:\n%s", out)
	out, _ = s.compose(ctx, "logs", "--no-color", "--tail", "25")
	s.t.Logf("compose logs (last 25 lines a container):\n%s", tail(out, 400))
}

// hostPorts lists the host addresses of port of every peer of service.
func (s *stack) hostPorts(ctx context.Context, service string, port int) ([]string, error) {
	ids, err := s.compose(ctx, "ps", "-q", service)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for i := range strings.Fields(ids) {
		out, err := s.compose(ctx, "port", fmt.Sprintf("--index=%d", i+1), service, fmt.Sprint(port))
		if err != nil {
			return nil, err
		}
		_, p, err := net.SplitHostPort(strings.TrimSpace(out))
		if err != nil {
			return nil, fmt.Errorf("docker-compose port %s %d: %q: %w", service, port, out, err)
		}
		addrs = append(addrs, "127.0.0.1:"+p)
	}
	return addrs, nil
}

// freeSubnet picks three octets 172.28.X for the project's /24 that no
// Docker network overlaps (compose.yaml fixes the Redis nodes' addresses).
func freeSubnet(ctx context.Context) (string, error) {
	ids, err := exec.CommandContext(ctx, "docker", "network", "ls", "-q").Output()
	if err != nil {
		return "", fmt.Errorf("docker network ls: %w", err)
	}
	var used []*net.IPNet
	if f := strings.Fields(string(ids)); len(f) > 0 {
		out, err := exec.CommandContext(ctx, "docker", append([]string{"network", "inspect", "-f",
			"{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, f...)...).Output()
		if err != nil {
			return "", fmt.Errorf("docker network inspect: %w", err)
		}
		for _, c := range strings.Fields(string(out)) {
			if _, n, err := net.ParseCIDR(c); err == nil {
				used = append(used, n)
			}
		}
	}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	for i := range 200 {
		x := 20 + (int(b[0])+i)%200
		_, mine, _ := net.ParseCIDR(fmt.Sprintf("172.28.%d.0/24", x))
		free := true
		for _, n := range used {
			if n.Contains(mine.IP) || mine.Contains(n.IP) {
				free = false
				break
			}
		}
		if free {
			return fmt.Sprintf("172.28.%d", x), nil
		}
	}
	return "", fmt.Errorf("no free /24 in 172.28.0.0/16 among %d Docker networks", len(used))
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
