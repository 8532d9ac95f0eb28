// Command inventory runs one peer of the inventory service, which reserves
// and releases stock for orders, all lines of an order or none. Start as
// many peers as you like: they share the saga steps through NATS queue
// groups and one event store (PostgreSQL at CATGA_DATABASE_URL, or one
// SQLite file at CATGA_SQLITE_PATH); see package peer for the
// configuration.
package main

import (
	"fmt"
	"os"

	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/services/inventory/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service.Name, err)
		os.Exit(1)
	}
}

func run() error { return peer.RunProcess(service.New()) }
