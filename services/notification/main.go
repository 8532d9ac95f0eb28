// Command notification runs one peer of the notification service, which tells customers how their orders ended.
// Start as many peers as you like; they share the work through NATS queue
// groups and need nothing but CATGA_NATS_URL.
//
// So far the peer joins the platform and announces itself for discovery;
// the service's handlers arrive with the services issue.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/catga-go/catga/libs/catga/peer"
)

const serviceName = "notification"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", serviceName, err)
		os.Exit(1)
	}
}

func run() error { return peer.RunProcess(serviceName, setup) }

func setup(context.Context, *peer.Peer) error { return nil }
