package natstransport_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
	"github.com/catga-go/catga/libs/catga/transport/transporttest"
)

// startServer runs an embedded nats-server (in-process, no binary needed)
// for the test.
func startServer(t *testing.T) *natsembed.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatalf("natsembed: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t *testing.T, urls ...string) *natstransport.Transport {
	t.Helper()
	tr, err := natstransport.Connect(natstransport.Config{URLs: urls, Name: t.Name()})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// connectAs connects a peer announced as service.
func connectAs(t *testing.T, service string, urls ...string) *natstransport.Transport {
	t.Helper()
	tr, err := natstransport.Connect(natstransport.Config{URLs: urls, Name: t.Name(), Service: service})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	transporttest.Run(t, func(t *testing.T, n int) []transport.Transport {
		peers := make([]transport.Transport, n)
		for i := range peers {
			peers[i] = connect(t, s.ClientURL())
		}
		return peers
	})
}
