// Command notification runs one peer of the notification service, which
// tells customers how their orders ended: it records one notification per
// completed or cancelled order and sends it (logging it, or posting it to
// CATGA_WEBHOOK_URL). Start as many peers as you like; they share the work
// through the service's durable consumers. The configuration comes from the
// environment (see package peer and package service).
package main

import (
	"fmt"
	"os"

	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/services/notification/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service.Name, err)
		os.Exit(1)
	}
}

func run() error { return peer.RunProcess(service.New()) }
