package catga_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/catga-go/catga/libs/catga"
)

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"infrastructure", errors.New("connection reset"), true},
		{"deadline", context.DeadlineExceeded, true},
		{"rejection", catga.Reject("insufficient_funds", "balance %d < %d", 1, 2), false},
		{"wrapped rejection", fmt.Errorf("pay: %w", catga.Reject("x", "y")), false},
		{"permanent", catga.Permanent(errors.New("malformed")), false},
		{"wrapped permanent", fmt.Errorf("decode: %w", catga.Permanent(errors.New("malformed"))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := catga.IsRetryable(tt.err); got != tt.want {
				t.Fatalf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRejectionCarriesCodeAndReason(t *testing.T) {
	err := fmt.Errorf("charge: %w", catga.Reject("insufficient_funds", "balance %d < %d", 10, 20))
	var re *catga.RejectionError
	if !errors.As(err, &re) || re.Code != "insufficient_funds" || re.Reason != "balance 10 < 20" {
		t.Fatalf("err = %v, want the rejection with its code and reason", err)
	}
	if !errors.Is(err, catga.ErrRejected) {
		t.Fatal("rejection does not match ErrRejected")
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	if _, ok := catga.MetadataFrom(context.Background()); ok {
		t.Fatal("empty context has metadata")
	}
	md := catga.Metadata{MessageID: "m1", CorrelationID: "c1", Epoch: 3}
	got, ok := catga.MetadataFrom(catga.WithMetadata(context.Background(), md))
	if !ok || got != md {
		t.Fatalf("MetadataFrom = %+v, %v", got, ok)
	}
	if got.Key() != "m1" {
		t.Fatalf("Key() = %q, want the message id when no idempotency key is set", got.Key())
	}
	md.IdempotencyKey = "saga/step/1"
	if md.Key() != "saga/step/1" {
		t.Fatalf("Key() = %q", md.Key())
	}
}
