package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the monorepo root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The binaries, built once for the tests that need them.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildPlatform builds every service, the dev launcher and the demo into a
// directory, as `make build` does, once; it returns the directory.
func buildPlatform(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root := repoRoot(t)
		if binDir, buildErr = os.MkdirTemp("", "catga-e2e-bin-*"); buildErr != nil {
			return
		}
		builds := map[string]string{
			"order":        "services/order",
			"payment":      "services/payment",
			"inventory":    "services/inventory",
			"notification": "services/notification",
			"catga-dev":    "libs/catga/cmd/catga-dev",
			"demo":         "examples/demo",
		}
		for bin, pkg := range builds {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, bin), ".")
			cmd.Dir = filepath.Join(root, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunStartsEveryPeerWithEmbeddedNATS is `make run` in smoke mode: the
// embedded nats-server and two peers of every service start as separate
// processes, every peer answers discovery and gets ready, the demo runs
// through the gateways and shows its orders' outcomes (completed, and
// cancelled both ways: payment declined, out of stock with the charge
// refunded), and every peer stops cleanly.
func TestRunStartsEveryPeerWithEmbeddedNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binaries; skipped in -short mode")
	}
	bin := buildPlatform(t)

	cmd := exec.Command(filepath.Join(bin, "catga-dev"), "-bin", bin, "-peers", "2", "-nats-port", "0",
		"-gateway", "127.0.0.1:0", "-then", filepath.Join(bin, "demo"), "-smoke", "-wait", "30s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("catga-dev -smoke: %v\n%s", err, out.String())
		}
	case <-time.After(120 * time.Second):
		_ = cmd.Process.Kill()
		t.Logf("killed catga-dev: %v", <-done)
		t.Fatalf("catga-dev -smoke did not finish within 120s\n%s", out.String())
	}

	text := out.String()
	for _, svc := range []string{"order", "payment", "inventory", "notification"} {
		rows := regexp.MustCompile(`(?m)^`+svc+`\s+\S+\s+0\.0\.0-dev$`).FindAllString(text, -1)
		if len(rows) != 2 {
			t.Errorf("discovery table lists %d %s peers, want 2", len(rows), svc)
		}
		if !regexp.MustCompile(`(?m)^` + svc + `\s+http://127\.0\.0\.1:\d+\s+\S+ \S+$`).MatchString(text) {
			t.Errorf("no gateway balanced over two peers listed for %s", svc)
		}
	}
	// The demo's lines: <order id> <customer> <items> <total> <outcome>.
	outcomes := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^[0-9a-f-]{36}\s+\S+\s+.*\s\$\d+\.\d\d\s+(COMPLETED|CANCELLED \((\w+): ([^)]*)\)), customer notified$`).FindAllStringSubmatch(text, -1) {
		switch {
		case m[1] == "COMPLETED":
			outcomes["completed"]++
		case m[2] == "insufficient_funds" && m[3] == "nothing charged":
			outcomes["declined"]++
		case m[2] == "out_of_stock" && strings.HasSuffix(m[3], "refunded"):
			outcomes["out of stock, refunded"]++
		}
	}
	for _, want := range []string{"completed", "declined", "out of stock, refunded"} {
		if outcomes[want] < 1 {
			t.Errorf("the demo shows no order %s (outcomes %v)", want, outcomes)
		}
	}
	if !regexp.MustCompile(`curl -s http://127\.0\.0\.1:\d+/orders `).MatchString(text) {
		t.Error("the demo shows no curl example for the order gateway")
	}
	// Order runs a saga, so its peers serve the saga console; the others
	// have none to show.
	if !regexp.MustCompile(`(?m)^saga console of order: http://127\.0\.0\.1:\d+/console/ `).MatchString(text) ||
		strings.Count(text, "saga console of ") != 1 {
		t.Error("the saga console of order (and only that one) is not listed")
	}
	if stopped := strings.Count(text, `msg="peer stopped"`); stopped != 8 {
		t.Errorf("%d peers logged a graceful stop, want 8", stopped)
	}
	if t.Failed() {
		t.Log(text)
	}
}
