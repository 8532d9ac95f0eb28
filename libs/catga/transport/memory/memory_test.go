package memory_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/memory"
	"github.com/catga-go/catga/libs/catga/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, n int) []transport.Transport {
		bus := memory.NewBus()
		peers := make([]transport.Transport, n)
		for i := range peers {
			p := memory.New(bus)
			peers[i] = p
			t.Cleanup(func() { _ = p.Close() })
		}
		return peers
	})
}
