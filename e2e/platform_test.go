package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// buildPlatform builds every service and the dev launcher into dir, as
// `make build` does.
func buildPlatform(t *testing.T, dir string) {
	t.Helper()
	root := repoRoot(t)
	builds := map[string]string{
		"order":        "services/order",
		"payment":      "services/payment",
		"inventory":    "services/inventory",
		"notification": "services/notification",
		"catga-dev":    "libs/catga/cmd/catga-dev",
	}
	for bin, pkg := range builds {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, bin), ".")
		cmd.Dir = filepath.Join(root, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
}

// TestRunStartsEveryPeerWithEmbeddedNATS is `make run` in smoke mode: the
// embedded nats-server and two peers of every service start as separate
// processes, every peer answers discovery, and every peer stops cleanly.
func TestRunStartsEveryPeerWithEmbeddedNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binaries; skipped in -short mode")
	}
	bin := t.TempDir()
	buildPlatform(t, bin)

	cmd := exec.Command(filepath.Join(bin, "catga-dev"), "-bin", bin, "-peers", "2", "-nats-port", "0", "-smoke", "-wait", "30s")
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
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Logf("killed catga-dev: %v", <-done)
		t.Fatalf("catga-dev -smoke did not finish within 90s\n%s", out.String())
	}

	text := out.String()
	for _, svc := range []string{"order", "payment", "inventory", "notification"} {
		rows := regexp.MustCompile(`(?m)^`+svc+`\s+\S+\s+\S+$`).FindAllString(text, -1)
		if len(rows) != 2 {
			t.Errorf("discovery table lists %d %s peers, want 2", len(rows), svc)
		}
	}
	if stopped := strings.Count(text, `msg="peer stopping"`); stopped != 8 {
		t.Errorf("%d peers logged a graceful stop, want 8", stopped)
	}
	if t.Failed() {
		t.Log(text)
	}
}
