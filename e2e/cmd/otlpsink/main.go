// Command otlpsink is the OTLP trace receiver of the e2e container
// topology (e2e/topology): the peers export their spans to it over OTLP/HTTP
// (POST /v1/traces, protobuf, optionally gzip-compressed), and the
// test reads back what arrived (GET /v1/traces, see [sink]) through a
// mapped port.
//
// It runs in a container of its own, built FROM scratch by `make images`,
// rather than in the test process: the test already reaches every
// container through mapped ports, while a receiver in the test process
// would need the containers to reach the host (a gateway address that
// differs between Linux engines, Docker Desktop and a test process that
// itself runs in a container, and that host firewalls may block). No
// collector image can be pulled on the CI machines; this one keeps
// everything in memory and decodes with the official OTLP protobuf types.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", ":4318", "listen address (4318 is OTLP/HTTP's port)")
	maxSpans := flag.Int("max-spans", 2_000_000, "spans kept at most; beyond, exports are rejected (and counted)")
	flag.Parse()
	srv := &http.Server{
		Addr:              *addr,
		Handler:           newSink(*maxSpans).handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("otlpsink: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
