// Command catga operates a running Catga platform over NATS and the saga
// store: its peers, sagas, events and dead letters. `catga --help` lists
// the commands; the exit codes are documented in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/catga-go/catga/libs/catga/cmd/catga/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
