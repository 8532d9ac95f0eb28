package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Exit codes; see the package documentation.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitUsage   = 2
	ExitRefused = 3
)

// Streams are the command's standard streams.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Environment variables the tool reads: the peers' own (see package
// peer), so that a shell set up for a peer reaches the same platform.
const (
	EnvNATSURL    = "CATGA_NATS_URL"
	EnvRedisAddrs = "CATGA_REDIS_ADDRS"
	// EnvService names the service whose saga store the sagas commands
	// read (default order, the service that runs the platform's sagas).
	EnvService = "CATGA_SERVICE"
)

// DefaultNATSURL is where the tool looks for NATS when neither --nats nor
// CATGA_NATS_URL says.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// errRefused marks the refusals of exit code 3.
var errRefused = errors.New("catga: refused")

// usageError marks a malformed command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app is one invocation's state: its flags, streams and connections.
type app struct {
	io      Streams
	getenv  func(string) string
	nats    string
	redis   string
	service string
	json    bool
	timeout time.Duration
	stream  string
	ran     bool // a command's RunE was reached: its errors are not usage errors

	conn *conn
}

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, io Streams, getenv func(string) string) int {
	a := &app{io: io, getenv: getenv}
	root := a.root()
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if a.conn != nil {
		a.conn.close()
	}
	if err == nil {
		return ExitOK
	}
	code := a.exitCode(err)
	fmt.Fprintln(io.Err, "catga:", strings.TrimPrefix(err.Error(), "catga: "))
	if code == ExitUsage {
		fmt.Fprintln(io.Err, "Run 'catga --help' for usage.")
	}
	return code
}

func (a *app) exitCode(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue), !a.ran:
		return ExitUsage // cobra's own errors: unknown command or flag, wrong arguments
	case errors.Is(err, errRefused), errors.Is(err, sagastore.ErrNotFound), errors.Is(err, saga.ErrInvalidState):
		return ExitRefused
	case errors.Is(err, sagastore.ErrUnknownState), errors.Is(err, sagastore.ErrBadCursor):
		return ExitUsage
	}
	return ExitError
}

// run wraps a command's work so that its errors are told from cobra's.
func (a *app) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return fn(cmd, args)
	}
}

// args checks the number of positional arguments as a usage error.
func args(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "catga",
		Short: "Operate a running Catga platform: peers, sagas, events, dead letters",
		Long: `catga talks to a running Catga platform over NATS and the saga store, as its
peers do: CATGA_NATS_URL and CATGA_REDIS_ADDRS (or --nats and --redis) say where.

Exit codes: 0 done, 1 failed (platform unreachable or erroring), 2 usage,
3 refused or not found (no such saga or dead letter, a state that does not
allow the action, a declined confirmation).`,
		Example: `  catga peers
  catga sagas list --state stuck
  catga sagas show 0b9f...
  catga sagas retry 0b9f... --yes --wait 30s
  catga events tail 'catga.evt.order.>' --since 10m
  catga dlq list --json`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVar(&a.nats, "nats", "", "NATS server URLs, comma-separated (default $"+EnvNATSURL+", else "+DefaultNATSURL+")")
	f.StringVar(&a.redis, "redis", "", "Redis addresses of the saga store, comma-separated (default $"+EnvRedisAddrs+"; none: NATS KV)")
	f.StringVar(&a.service, "service", "", "service whose saga store to use (default $"+EnvService+", else order)")
	f.BoolVar(&a.json, "json", false, "print JSON for scripts instead of tables")
	f.DurationVar(&a.timeout, "timeout", 10*time.Second, "bound on each call to the platform")
	f.StringVar(&a.stream, "stream", "CATGA_EVENTS", "JetStream stream of events and dead letters")
	root.AddCommand(a.peersCmd(), a.sagasCmd(), a.eventsCmd(), a.dlqCmd())
	return root
}

// withTimeout bounds one call to the platform.
func (a *app) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}
