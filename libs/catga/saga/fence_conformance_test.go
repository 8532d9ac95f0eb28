package saga_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/fencetest"
)

// TestMemoryFenceConformance: MemoryFence, used as the guards use it,
// passes the fence suite.
func TestMemoryFenceConformance(t *testing.T) {
	fencetest.Run(t, func(*testing.T) fencetest.Subject {
		return fencetest.Subject{Apply: fencetest.FromFence(saga.NewMemoryFence())}
	})
}
