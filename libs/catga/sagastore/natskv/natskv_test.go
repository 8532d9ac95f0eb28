package natskv_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

func TestConformance(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	var n atomic.Int64
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) sagastore.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := natskv.New(ctx, js, natskv.Config{Bucket: fmt.Sprintf("sagas_%d", n.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Corrupt: func(t *testing.T, s sagastore.Store, id string) {
			if err := s.(*natskv.Store).PutRaw(context.Background(), id, []byte("{not json")); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestKeyEncoding(t *testing.T) {
	cases := []struct{ id, key string }{
		{"3f2a-11", "3f2a-11"},
		{"order/1", "x." + fmt.Sprintf("%x", "order/1")},
		{"a.b", "x." + fmt.Sprintf("%x", "a.b")},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			if got := natskv.Key(c.id); got != c.key {
				t.Fatalf("Key(%q) = %q, want %q", c.id, got, c.key)
			}
		})
	}
}
