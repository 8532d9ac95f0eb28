// Command demo shows the platform at work, through the services' HTTP APIs
// only: it opens two customer accounts (one rich, one poor), stocks two
// SKUs (one plentiful, one with a single unit), places orders that end
// each way the order saga can end (completed, cancelled because the
// payment was declined, cancelled because the stock ran out, with the
// charge refunded), waits for every outcome and prints it, then shows how
// to place more orders with curl.
//
// `make run` runs it once every peer is ready (catga-dev -then bin/demo),
// which names the services' gateways in CATGA_GATEWAY_ORDER,
// CATGA_GATEWAY_PAYMENT, CATGA_GATEWAY_INVENTORY and
// CATGA_GATEWAY_NOTIFICATION; flags override them.
//
// It exits with status 1 when an order does not reach the outcome it was
// placed for within -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// gateways are the services' HTTP addresses.
type gateways struct {
	order, payment, inventory, notification string
}

func run() error {
	var gw gateways
	flag.StringVar(&gw.order, "order", os.Getenv("CATGA_GATEWAY_ORDER"), "order service URL")
	flag.StringVar(&gw.payment, "payment", os.Getenv("CATGA_GATEWAY_PAYMENT"), "payment service URL")
	flag.StringVar(&gw.inventory, "inventory", os.Getenv("CATGA_GATEWAY_INVENTORY"), "inventory service URL")
	flag.StringVar(&gw.notification, "notification", os.Getenv("CATGA_GATEWAY_NOTIFICATION"),
		"notification service URL (optional: without it, notifications are not checked)")
	timeout := flag.Duration("timeout", 30*time.Second, "how long the orders may take to reach their outcomes")
	flag.Parse()
	var missing []string
	for name, u := range map[string]string{"order": gw.order, "payment": gw.payment, "inventory": gw.inventory} {
		if u == "" {
			missing = append(missing, fmt.Sprintf("-%s (or CATGA_GATEWAY_%s)", name, strings.ToUpper(name)))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no URL for %s", strings.Join(missing, ", "))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	d := demo{gw: gw, c: client{http: &http.Client{Timeout: 10 * time.Second}}, out: os.Stdout}
	return d.run(ctx, *timeout)
}
