package app_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
	"github.com/catga-go/catga/services/inventory/adapters"
	"github.com/catga-go/catga/services/inventory/app"
)

// TestMain stops the PostgreSQL server the tests start.
func TestMain(m *testing.M) { peertest.Main(m) }

// eachStore runs fn against a fresh fixture over SQLite and over
// PostgreSQL, saga steps applied through the fence over that store.
func eachStore(t *testing.T, fn func(t *testing.T, f fixture)) {
	reg := eventstore.NewRegistry()
	if err := adapters.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	peertest.EachBackend(t, "inventory", reg, func(t *testing.T, b peertest.Backend) {
		fence, err := storefence.New(b.Store)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, fixture{store: b.Store, svc: app.New(b.Store, fence)})
	})
}
