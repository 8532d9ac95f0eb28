package pgembed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
)

func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server (initdb + postgres); skipped under -short")
	}
	if _, err := pgembed.FindBinDir(); err != nil {
		t.Fatalf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgembed.Start(ctx, pgembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var user string
	if err := c.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil || user != "postgres" {
		t.Fatalf("current_user = %q, %v", user, err)
	}
	_ = c.Close(ctx)
	s.Stop()
	stopped = true
	if _, err := pgx.Connect(ctx, s.URL("postgres")); err == nil {
		t.Fatal("server still accepts connections after Stop")
	}
}

func TestStartWithoutBinaries(t *testing.T) {
	_, err := pgembed.Start(context.Background(), pgembed.Config{BinDir: t.TempDir()})
	if !errors.Is(err, pgembed.ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
}
