package redisfence_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/fencetest"
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
)

// TestConformance: the Redis fence, used as the guards use it (Admit, the
// effect, Commit or Abort), passes the fence suite on a real redis-server.
func TestConformance(t *testing.T) {
	rdb := redistest.Start(t)
	fencetest.Run(t, func(*testing.T) fencetest.Subject {
		return fencetest.ForFence(redisfence.New(rdb, "fencetest-"+uuid.NewString()[:8], time.Minute, saga.WithReservation(fencetest.Reservation)))
	})
}
