package memory_test

import (
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(*testing.T) sagastore.Store { return memory.New() },
		Features: storetest.Features{Parallel: true, Corrupt: func(_ *testing.T, s sagastore.Store, id string) {
			s.(*memory.Store).Put(id, []byte("{not json"))
		},
			Work: func(s sagastore.Store) int64 { return s.(*memory.Store).Work() },
			NewWithRetention: func(_ *testing.T, d time.Duration) sagastore.Store {
				return memory.New(memory.WithRetention(d))
			},
		},
	})
}
