package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/repo"
)

// Bounds of TestGenerateShipping: the whole test, and the wait for the
// platform to be ready once catga-dev runs.
const (
	generateBound = 8 * time.Minute
	platformBound = 90 * time.Second
)

// TestGenerateShipping generates a service into a copy of the repository
// the way a developer would (make new-service NAME=shipping), then checks
// that it builds, vets, is gofmt-ed and lint-clean and passes its own
// tests, that make build finds it, and that catga-dev, as make run starts
// it, runs two ready peers of it that serve its HTTP endpoint through the
// gateway.
//
// The copy is made at the same place every run (a directory named after
// the repository's path, locked while a test uses it): the go command's
// build cache keys hold a package's directory, so a second run compiles
// only what changed, and the first only the repository's own packages.
func TestGenerateShipping(t *testing.T) {
	if testing.Short() {
		t.Skip("TestGenerateShipping copies the repository, builds every service and runs the platform (minutes); skipped under -short")
	}
	for _, tool := range []string{"git", "make", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("TestGenerateShipping needs %s on PATH: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), generateBound)
	defer cancel()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	repo := copyRepo(t, root)
	env := childEnv(t)
	sh := func(dir string, args ...string) string {
		t.Helper()
		start := time.Now()
		out, err := command(ctx, env, filepath.Join(repo, dir), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		t.Logf("%s (in %s): %s", strings.Join(args, " "), dir, time.Since(start).Round(time.Millisecond))
		return string(out)
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, err := command(ctx, env, repo, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("%s: %v\n%s\nwant a failure saying %q", strings.Join(args, " "), err, out, want)
		}
	}

	fails("lowercase identifier", "make", "new-service", "NAME=Ship-ping")
	fails("Go keyword", "make", "new-service", "NAME=func")
	fails("services/payment exists", "make", "new-service", "NAME=payment")
	fails("name is required", "make", "new-service")
	sh(".", "make", "new-service", "NAME=shipping", "AGGREGATE=parcel")
	fails("services/shipping exists", "make", "new-service", "NAME=shipping")
	checkRegistered(t, repo)

	svc := filepath.Join("services", "shipping")
	sh(svc, "go", "build", "./...")
	sh(svc, "go", "vet", "./...")
	if out := sh(svc, "gofmt", "-l", "."); out != "" {
		t.Fatalf("gofmt -l: the generated files need gofmt:\n%s", out)
	}
	// make lint's linter, when make tools built it: the templates must stay
	// as clean as the services written by hand.
	if lint := filepath.Join(root, "bin", "golangci-lint"); fileExists(lint) {
		// Serial: a golangci-lint already running (make lint) is waited
		// for rather than failing this one.
		sh(svc, lint, "run", "--allow-serial-runners", "--config", filepath.Join(repo, ".golangci.yml"), "./...")
	} else {
		t.Logf("golangci-lint not run on the generated service: no %s (make tools builds it)", lint)
	}
	out := sh(svc, "go", "test", "-count=1", "./...")
	for _, pkg := range []string{"services/shipping/domain", "services/shipping/service"} {
		if !regexp.MustCompile(`(?m)^ok\s+\S+/` + regexp.QuoteMeta(pkg) + `\s`).MatchString(out) {
			t.Fatalf("go test: %s did not pass:\n%s", pkg, out)
		}
	}
	sh(".", "make", "build")
	if _, err := os.Stat(filepath.Join(repo, "bin", "shipping")); err != nil {
		t.Fatalf("make build did not build shipping: %v", err)
	}
	runPlatform(ctx, t, repo, env)
}

// checkRegistered checks go.work uses the new module and compose.yaml runs
// it.
func checkRegistered(t *testing.T, repo string) {
	t.Helper()
	work, err := os.ReadFile(filepath.Join(repo, "go.work"))
	if err != nil || !regexp.MustCompile(`(?m)^\s*\./services/shipping\s*$`).Match(work) {
		t.Fatalf("go.work does not use ./services/shipping (%v):\n%s", err, work)
	}
	compose, err := os.ReadFile(filepath.Join(repo, "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block := string(compose)
	block = block[strings.Index(block, composeBegin):strings.Index(block, composeEnd)]
	if !strings.Contains(block, "\n  shipping:\n") || !strings.Contains(block, "catga/shipping") {
		t.Fatalf("compose.yaml's generated block has no shipping entry:\n%s", block)
	}
}

// runPlatform runs catga-dev as make run does (two peers of every service
// it discovers, a gateway each), waits until both shipping peers answer
// /readyz, creates a parcel through shipping's gateway and reads it from
// each peer, then stops catga-dev with SIGINT and expects a clean exit.
func runPlatform(ctx context.Context, t *testing.T, repo string, env []string) {
	cmd := command(ctx, env, repo, filepath.Join(repo, "bin", "catga-dev"), "-bin", "bin", "-peers", "2", "-nats-port", "0", "-gateway", "127.0.0.1:0", "-wait", "60s")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 40 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := &tail{}
	peerRE := regexp.MustCompile(`^shipping-(\d): (http://\S+)$`)
	gatewayRE := regexp.MustCompile(`^shipping\s+(http://\S+)\s`)
	var peers []string
	var gateway string
	running := make(chan struct{})
	scanned := make(chan struct{})
	var mu sync.Mutex
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			lines.add(line)
			mu.Lock()
			if m := peerRE.FindStringSubmatch(line); m != nil {
				peers = append(peers, m[2])
			}
			if m := gatewayRE.FindStringSubmatch(line); m != nil {
				gateway = m[1]
			}
			mu.Unlock()
			if strings.HasPrefix(line, "platform running") {
				once.Do(func() { close(running) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	stopped := false
	stop := func() error {
		stopped = true
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return err
		}
		<-scanned
		return cmd.Wait()
	}
	defer func() {
		if !stopped {
			_ = stop()
		}
		if t.Failed() {
			t.Logf("catga-dev's last lines:\n%s", lines)
		}
	}()

	start := time.Now()
	select {
	case <-running:
	case <-scanned:
		t.Fatalf("catga-dev exited before the platform ran: %v", cmd.Wait())
	case <-time.After(platformBound):
		t.Fatalf("the platform was not running within %s", platformBound)
	}
	mu.Lock()
	shippingPeers, gw := append([]string(nil), peers...), gateway
	mu.Unlock()
	if len(shippingPeers) != 2 || gw == "" {
		t.Fatalf("catga-dev started shipping peers %v, gateway %q; want 2 peers and a gateway", shippingPeers, gw)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, p := range shippingPeers {
		if status, body := get(t, client, p+"/readyz"); status != http.StatusOK {
			t.Fatalf("%s/readyz = %d %s", p, status, body)
		}
	}
	t.Logf("two shipping peers ready %s after catga-dev started: %v", time.Since(start).Round(time.Millisecond), shippingPeers)

	resp, err := client.Post(gw+"/parcels", "application/json", strings.NewReader(`{"id":"p1","label":"through the gateway"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /parcels through the gateway = %d %s", resp.StatusCode, body)
	}
	for _, p := range shippingPeers {
		if status, body := get(t, client, p+"/parcels/p1"); status != http.StatusOK || !bytes.Contains(body, []byte(`"through the gateway"`)) {
			t.Fatalf("GET %s/parcels/p1 = %d %s", p, status, body)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("catga-dev did not stop cleanly on SIGINT: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// command is a child process of the test, in its own process group so that
// a cancelled context's kill reaches what it started.
func command(ctx context.Context, env []string, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// copyRepo copies the files git knows of (tracked, and untracked ones it
// does not ignore) under root into a new directory.
func copyRepo(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("TestGenerateShipping copies the repository with git ls-files, which failed: %v", err)
	}
	sum := sha256.Sum256([]byte(root))
	base := filepath.Join(os.TempDir(), "catga-new-test-"+hex.EncodeToString(sum[:6]))
	lock, err := os.OpenFile(base+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// Another run of this test on the same repository waits for this one.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(base, "repo")
	t.Cleanup(func() {
		_ = os.RemoveAll(base)
		_ = lock.Close() // releases the lock
	})
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rel := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if _, err := os.Stat(filepath.Join(dst, "services", "shipping")); err == nil {
		t.Skip("the repository has a services/shipping already; TestGenerateShipping generates one")
	}
	t.Logf("copied %d files of %s into %s", n, root, dst)
	return dst
}

// childEnv is the environment of the go and make commands: the shared
// build and lint caches, no CATGA_* of the developer's shell, and a cache
// directory of the test's own for what peertest builds.
func childEnv(t *testing.T) []string {
	t.Helper()
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CATGA_"), k == "GOWORK", k == "GOCACHE", k == "XDG_CACHE_HOME", k == "MAKEFLAGS", k == "MFLAGS", k == "MAKELEVEL":
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "GOCACHE="+strings.TrimSpace(string(gocache)), "XDG_CACHE_HOME="+t.TempDir())
	if os.Getenv("GOLANGCI_LINT_CACHE") == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			env = append(env, "GOLANGCI_LINT_CACHE="+filepath.Join(dir, "golangci-lint")) // its default, kept warm
		}
	}
	return env
}

// tail keeps the last lines of a process's output.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (l *tail) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines = append(l.lines, s); len(l.lines) > 80 {
		l.lines = l.lines[len(l.lines)-80:]
	}
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + fmt.Sprintf("\n(%d lines kept)", len(l.lines))
}
