package transport

import (
	"errors"
	"testing"
)

func TestConsumerConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ConsumerConfig
		wantErr bool
	}{
		{"ok", ConsumerConfig{Name: "billing_Refunded", Subject: "catga.evt.x"}, false},
		{"dot in name", ConsumerConfig{Name: "billing.Refunded", Subject: "catga.evt.x"}, true},
		{"empty name", ConsumerConfig{Subject: "catga.evt.x"}, true},
		{"no subject", ConsumerConfig{Name: "a"}, true},
		{"negative MaxDeliver", ConsumerConfig{Name: "a", Subject: "s", MaxDeliver: -1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
		})
	}
	d := ConsumerConfig{Name: "a", Subject: "s"}.WithDefaults()
	if d.AckWait <= 0 || d.MaxDeliver <= 0 || d.RetryDelay <= 0 {
		t.Errorf("WithDefaults left zero fields: %+v", d)
	}
}
