// Package pgembed runs a throwaway PostgreSQL server for tests and
// benchmarks: initdb into a temporary directory, then postgres on a free
// loopback port, stopped and removed by Stop. It is to PostgreSQL what
// natsembed is to NATS, except that PostgreSQL cannot run inside the process:
// it needs the server binaries (initdb, postgres) installed.
//
// PostgreSQL refuses to run as root. When the process is root, the data
// directory is handed to the unprivileged user "nobody" and the server runs
// under that uid (SysProcAttr.Credential). On Linux the server is killed if
// the starting process dies, so a crashed test leaves nothing behind.
package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries reports that initdb/postgres were not found.
var ErrNoBinaries = errors.New("catga: pgembed: PostgreSQL server binaries (initdb, postgres) not found; run scripts/install-deps.sh")

// Config describes the server. The zero value works.
type Config struct {
	// BinDir holds initdb and postgres. Empty means the newest
	// /usr/lib/postgresql/*/bin, then PATH.
	BinDir string
	// ReadyTimeout bounds initdb plus start-up (default 60s).
	ReadyTimeout time.Duration
	// Durable keeps PostgreSQL's durability settings (fsync,
	// synchronous_commit, full_page_writes on), as a benchmark must;
	// otherwise they are off, for throwaway test data.
	Durable bool
}

// Server is a running PostgreSQL server.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	logs *bytes.Buffer
}

// FindBinDir returns the directory holding initdb and postgres.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises a cluster in a temporary directory and starts postgres
// on a free 127.0.0.1 port with trust authentication for user "postgres".
// Durability is off (fsync, synchronous_commit) unless cfg.Durable.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	bin := cfg.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if !isExec(filepath.Join(bin, "initdb")) || !isExec(filepath.Join(bin, "postgres")) {
		return nil, fmt.Errorf("%w (in %s)", ErrNoBinaries, bin)
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "catga-pg-*")
	if err != nil {
		return nil, fmt.Errorf("catga: pgembed: %w", err)
	}
	s := &Server{dir: dir, logs: &bytes.Buffer{}, done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		// The server user must own the data directory and reach it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return fail(fmt.Errorf("catga: pgembed: %w", err))
		}
		if err := os.Mkdir(data, 0o700); err != nil {
			return fail(fmt.Errorf("catga: pgembed: %w", err))
		}
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("catga: pgembed: %w", err))
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("catga: pgembed: initdb: %w: %s", err, out))
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		err = s.start(ctx, bin, data, port, cred, cfg.Durable)
		if err == nil {
			return s, nil
		}
		// Another process may have taken the port between probe and bind.
		if attempt >= 2 || ctx.Err() != nil {
			return fail(err)
		}
	}
}

func (s *Server) start(ctx context.Context, bin, data string, port int, cred *syscall.Credential, durable bool) error {
	s.logs.Reset()
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB"}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.SysProcAttr = sysProcAttr(cred)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("catga: pgembed: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // owned by Stop, which waits on done
	s.cmd, s.done, s.port = cmd, done, port
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			_ = c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("catga: pgembed: postgres exited: %s", s.logs.String())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("catga: pgembed: postgres not ready: %w: %s", ctx.Err(), s.logs.String())
		case <-tick.C:
		}
	}
}

// URL returns a connection URL for database db as user postgres.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Stop shuts the server down (fast shutdown, then kill after 10s), waits for
// it and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = os.RemoveAll(s.dir)
}

// credential returns the uid/gid to run the server under: nil when not
// root, "nobody" when root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("catga: pgembed: running as root and no user \"nobody\" to run postgres as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("catga: pgembed: user nobody: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("catga: pgembed: free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
