//go:build unix

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCtrlCStopsEverythingCleanly is Ctrl-C at the terminal during `make
// run`: SIGINT to catga-dev's whole process group, after the demo ran.
// Every peer stops gracefully (each gets one SIGTERM from catga-dev, in its
// own process group, not the terminal's SIGINT too: a second signal makes a
// peer give up its graceful shutdown) and catga-dev exits 0.
func TestCtrlCStopsEverythingCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binaries; skipped in -short mode")
	}
	bin := buildPlatform(t)
	cmd := exec.Command(filepath.Join(bin, "catga-dev"), "-bin", bin, "-peers", "1", "-nats-port", "0",
		"-gateway", "127.0.0.1:0", "-then", filepath.Join(bin, "demo"), "-wait", "30s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's foreground process group
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited { // its peers get SIGTERM when it dies
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Logf("killed catga-dev: %v", <-done)
		}
	}()
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(out.String(), "platform running; Ctrl-C stops it"); {
		if time.Now().After(deadline) {
			t.Fatalf("catga-dev did not get to running within 90s\n%s", out.String())
		}
		select {
		case err := <-done:
			exited = true
			t.Fatalf("catga-dev exited before the Ctrl-C: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("catga-dev after Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("catga-dev did not stop within 60s of Ctrl-C\n%s", out.String())
	}
	if stopped := strings.Count(out.String(), `msg="peer stopped"`); stopped != 4 {
		t.Fatalf("%d peers logged a graceful stop, want 4\n%s", stopped, out.String())
	}
}
