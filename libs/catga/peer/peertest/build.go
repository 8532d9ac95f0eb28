package peertest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{} // by absolute package directory
)

type buildResult struct {
	once sync.Once
	bin  string
	err  error
}

// Build compiles the main package in dir (a directory, relative to the
// test's working directory, e.g. "." or "../../services/payment") and
// returns the binary's path. It builds once per test process, however many
// tests ask, into a per-user cache directory (so the next run starts from
// Go's build cache and overwrites the same file); a failed build fails t
// with the compiler's output.
func Build(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	buildMu.Lock()
	r := builds[abs]
	if r == nil {
		r = &buildResult{}
		builds[abs] = r
	}
	buildMu.Unlock()
	r.once.Do(func() { r.bin, r.err = build(abs) })
	if r.err != nil {
		t.Fatalf("peertest: %v", r.err)
	}
	return r.bin
}

func build(dir string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256([]byte(dir))
	out := filepath.Join(cache, "catga-peertest", hex.EncodeToString(sum[:8]), filepath.Base(dir))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	// Build beside the target and rename: another test process may be
	// running the previous binary or building the same one.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %w\n%s", dir, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	return out, nil
}
