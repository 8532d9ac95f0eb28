package natskv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
)

// TestOpenBindsWithoutCreating: Open refuses a store nobody made (and
// makes none), and otherwise reads what New's store wrote.
func TestOpenBindsWithoutCreating(t *testing.T) {
	srv, _, _ := natstest.JetStream(t)
	_, js := natstest.Connect(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := natskv.Config{Bucket: "opened"}

	if _, err := natskv.Open(ctx, js, cfg); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("Open of a missing store: %v, want ErrBucketNotFound", err)
	}
	if _, err := js.KeyValue(ctx, cfg.Bucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("Open created the bucket: %v", err)
	}

	made, err := natskv.New(ctx, js, natskv.Config{Bucket: cfg.Bucket, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec := sagastore.Record{ID: "s1", Name: "n", State: sagastore.StateStuck, Epoch: 1, LeaseUntil: time.Now()}
	if _, err := made.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	opened, err := natskv.Open(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	page, err := opened.ListPage(ctx, sagastore.StateStuck, "", 10)
	if err != nil || len(page.Records) != 1 || page.Records[0].ID != "s1" {
		t.Fatalf("Open's store lists %+v (%v), want the stuck saga s1", page.Records, err)
	}
}
