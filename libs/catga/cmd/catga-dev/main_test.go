package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestHumanize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"json line", `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"peer stopping","service":"order"}`,
			`level=INFO msg="peer stopping" service=order`},
		{"numbers and nulls", `{"level":"WARN","msg":"x","n":3,"err":null}`, `level=WARN msg=x n=3 err=null`},
		{"quotes", `{"msg":"a \"b\"","k":""}`, `msg="a \"b\"" k=""`},
		{"not json", `panic: boom`, `panic: boom`},
		{"broken json", `{"msg":`, `{"msg":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := humanize(tt.in); got != tt.want {
				t.Fatalf("humanize(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDiscoverServices(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"go.work", "services/shipping/main.go", "services/order/main.go", "services/README/notes.md"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(filepath.Join(root, "services", "order")) // anywhere in the repository
	got, err := discoverServices()
	if err != nil || !slices.Equal(got, []string{"order", "shipping"}) {
		t.Fatalf("discoverServices = %v, %v; want [order shipping]", got, err)
	}
	t.Chdir(t.TempDir())
	if _, err := discoverServices(); err == nil {
		t.Fatal("discoverServices outside a repository = nil error")
	}
}
