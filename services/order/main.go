// Command order runs one peer of the order service, which takes orders and
// runs the order saga (order → payment → inventory). Start as many peers as
// you like; they share the work through NATS and the service's database.
// The configuration comes from the environment (see package peer).
package main

import (
	"fmt"
	"os"

	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/services/order/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service.Name, err)
		os.Exit(1)
	}
}

func run() error { return peer.RunProcess(service.New()) }
