// Command transport is `make bench-transport`: it runs package
// transportbench (catga's Send over NATS against raw nats.go and a
// same-codec baseline) and ends with its summary line:
//
//	p50_ratio=… p99_ratio=… throughput_ratio=… codec_p50_ratio=… codec_p99_ratio=… codec_throughput_ratio=…
package main

import (
	"flag"
	"log"
	"os"
	"runtime/pprof"
	"time"

	"github.com/catga-go/catga/bench/transportbench"
)

func main() {
	var cfg transportbench.Config
	flag.DurationVar(&cfg.Duration, "duration", 1500*time.Millisecond, "measuring time per mode and side")
	flag.IntVar(&cfg.Slices, "slices", 10, "alternating slices per mode")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "concurrent callers")
	flag.IntVar(&cfg.Payload, "payload", 256, "payload body bytes")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if _, err := transportbench.Run(cfg, os.Stdout); err != nil {
		log.Print(err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
