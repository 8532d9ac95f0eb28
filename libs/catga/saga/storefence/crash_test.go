package storefence_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
)

// crashEnv tells the test binary to run as the participant that is killed:
// "sqlite <path>" or "postgres <url>".
const crashEnv = "STOREFENCE_CRASH_CHILD"

// crashOp is the step the killed participant was applying.
var crashOp = saga.Op{Saga: "order-crash", Key: "charge", Epoch: 1}

// openBackend opens the store named by a crashEnv value.
func openBackend(ctx context.Context, spec string) (backend, func(), error) {
	kind, where, _ := strings.Cut(spec, " ")
	reg, err := newRegistry()
	if err != nil {
		return nil, nil, err
	}
	if kind == "sqlite" {
		s, err := sqlitestore.Open(ctx, where, reg)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	}
	pool, err := pgxpool.New(ctx, where)
	if err != nil {
		return nil, nil, err
	}
	s, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema("payment"))
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return s, pool.Close, nil
}

// runCrashChild, in the child process, charges inside the fence and, with
// the charge appended but not committed, says so and waits to be killed.
func runCrashChild(spec string) {
	ctx := context.Background()
	s, _, err := openBackend(ctx, spec)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	f, err := storefence.New(s)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	_, err = f.Apply(ctx, crashOp, func(ctx context.Context, es eventstore.Store) error {
		if err := charge("acct", charged{Saga: crashOp.Saga, Amount: 7})(ctx, es); err != nil {
			return err
		}
		fmt.Println("appended")
		time.Sleep(time.Hour) // killed here, before the commit
		return errors.New("not killed")
	})
	fmt.Println("error: Apply returned:", err)
}

// TestKilledMidEffect: a participant process is killed (SIGKILL) after its
// effect appended and before the fence transaction committed. Neither the
// charge nor the fence record survives; the redelivery charges once.
func TestKilledMidEffect(t *testing.T) {
	specs := map[string]func(t *testing.T) string{
		"postgres": func(t *testing.T) string { return "postgres " + pgtest.URL(t) },
		"sqlite":   func(t *testing.T) string { return "sqlite " + filepath.Join(t.TempDir(), "crash.db") },
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := ctxT(t)
			spec := specs[b.name](t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashEnv+"="+spec)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			line := make(chan string, 1)
			go func() {
				l, _ := bufio.NewReader(out).ReadString('\n')
				line <- strings.TrimSpace(l)
			}()
			select {
			case l := <-line:
				if l != "appended" {
					t.Fatalf("participant: %q", l)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("participant did not reach its effect within 30s")
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			s, closeStore, err := openBackend(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			if st, err := accounts.Load(ctx, s, "acct"); err != nil || st.Value.Charges != 0 {
				t.Fatalf("after the kill: %+v, %v; want no charge", st.Value, err)
			}
			f := newFence(t, s)
			if adm, err := f.Apply(ctx, crashOp, charge("acct", charged{Saga: crashOp.Saga, Amount: 7})); err != nil || adm != saga.Apply {
				t.Fatalf("redelivery after the kill: (%v, %v), want Apply", adm, err)
			}
			if st, err := accounts.Load(ctx, s, "acct"); err != nil || st.Value != (account{Balance: 7, Charges: 1}) {
				t.Fatalf("after the redelivery: %+v, %v; want one charge of 7", st.Value, err)
			}
		})
	}
}
