// Command saga is `make bench-saga`: it runs package sagabench (3-step
// sagas on the memory store and a local Redis Cluster) and ends with its
// summary line:
//
//	redis_sagas_per_s=… redis_p99_ms=… round_trips_per_transition=…
package main

import (
	"flag"
	"log"
	"os"
	"time"

	"github.com/catga-go/catga/bench/sagabench"
)

func main() {
	var cfg sagabench.Config
	flag.DurationVar(&cfg.Duration, "d", 4*time.Second, "measuring time per store")
	flag.IntVar(&cfg.Workers, "workers", 64, "concurrent sagas")
	flag.Parse()
	log.SetFlags(0)
	if _, err := sagabench.Run(cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
