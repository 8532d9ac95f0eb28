package peertest_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/peer/peertest"
)

func TestMain(m *testing.M) { peertest.Main(m) }

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestPeersStartStopAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs processes; skipped in -short mode")
	}
	bin := peertest.Build(t, "testdata/echo")
	nats := peertest.NATS(t)
	env := []string{"CATGA_SQLITE_PATH=" + filepath.Join(t.TempDir(), "echo.db")}
	peers := peertest.StartPeers(t, 2, bin, peertest.Options{NATSURL: nats.ClientURL(), Env: env})
	a, b := peers[0], peers[1]
	if a.Name != "echo-1" || b.Name != "echo-2" {
		t.Fatalf("peers named %s and %s, want echo-1 and echo-2", a.Name, b.Name)
	}
	pidA, pidB := get(t, a.URL+"/pid"), get(t, b.URL+"/pid")
	if pidA == pidB || pidA == "" {
		t.Fatalf("peers answer pids %q and %q, want two processes", pidA, pidB)
	}

	if err := a.Stop(); err != nil {
		t.Fatalf("Stop = %v, want a clean exit\n%s", err, a.Output())
	}
	if !strings.Contains(a.Output(), `"msg":"peer stopped"`) {
		t.Fatalf("a's output does not show an orderly stop:\n%s", a.Output())
	}
	if resp, err := http.Get(a.URL + "/pid"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("a stopped peer still answers")
	}

	b.Kill()
	select {
	case <-b.Exited():
	default:
		t.Fatal("Kill returned before the process exited")
	}
	if strings.Contains(b.Output(), "peer stopping") {
		t.Fatal("a killed peer had time to shut down")
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("Stop after Kill = %v, want nil (the kill was the test's)", err)
	}
}

func TestEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs processes; skipped in -short mode")
	}
	bin := peertest.Build(t, "testdata/echo")
	nats := peertest.NATS(t)
	t.Setenv("CATGA_VERSION", "9.9.9") // the developer's shell
	t.Setenv("PEERTEST_PASSED_ON", "yes")
	p := peertest.Start(t, bin, peertest.Options{NATSURL: nats.ClientURL(), Env: []string{"CATGA_LOG_LEVEL=debug"}})
	for name, want := range map[string]string{"CATGA_VERSION": "", "PEERTEST_PASSED_ON": "yes", "CATGA_LOG_LEVEL": "debug"} {
		if got := get(t, p.URL+"/env/"+name); got != want {
			t.Errorf("peer sees %s=%q, want %q", name, got, want)
		}
	}
	// The default SQLite file is in the process's own directory.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestSpawnReportsAPeerThatCannotStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs processes; skipped in -short mode")
	}
	bin := peertest.Build(t, "testdata/echo")
	_, err := peertest.Spawn(t, bin, peertest.Options{Env: []string{"CATGA_SHUTDOWN_TIMEOUT=soon"}, ReadyTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("Spawn = nil, want the peer's refusal")
	}
	for _, want := range []string{"exited before it was ready", "CATGA_SHUTDOWN_TIMEOUT", "CATGA_NATS_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Spawn error does not say %q:\n%v", want, err)
		}
	}
}

func TestBuildOncePerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped in -short mode")
	}
	first := peertest.Build(t, "testdata/echo")
	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	<-ctx.Done() // a rebuild would now show a later modification time
	second := peertest.Build(t, "./testdata/echo/")
	st2, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || !st.ModTime().Equal(st2.ModTime()) {
		t.Fatalf("Build built again: %s (%v) then %s (%v)", first, st.ModTime(), second, st2.ModTime())
	}
}

func TestSecondSignalKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs processes; skipped in -short mode")
	}
	bin := peertest.Build(t, "testdata/echo")
	nats := peertest.NATS(t)
	p := peertest.Start(t, bin, peertest.Options{NATSURL: nats.ClientURL(), Env: []string{"ECHO_HANG=1"}, StopTimeout: time.Minute})
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, `"msg":"peer stopping"`); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGTERM did not end the process within 10s (its shutdown timeout is a minute)")
	}
}
