package topology

import "testing"

func TestImage(t *testing.T) {
	tests := []struct {
		name      string
		component string
		env       map[string]string
		want      string
	}{
		{"nats default", "nats", nil, DefaultNATSImage},
		{"redis default", "redis", nil, DefaultRedisImage},
		{"postgres default", "postgres", nil, DefaultPostgresImage},
		{"service default", "order", nil, "catga/order"},
		{"override", "redis", map[string]string{"CATGA_IMAGE_REDIS": "mirror.local/redis:7.2"}, "mirror.local/redis:7.2"},
		{"service override", "payment", map[string]string{"CATGA_IMAGE_PAYMENT": "catga/payment:v2"}, "catga/payment:v2"},
		{"blank override is the default", "nats", map[string]string{"CATGA_IMAGE_NATS": "  "}, DefaultNATSImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"CATGA_IMAGE_NATS", "CATGA_IMAGE_REDIS", "CATGA_IMAGE_POSTGRES", "CATGA_IMAGE_ORDER", "CATGA_IMAGE_PAYMENT"} {
				t.Setenv(k, tt.env[k])
			}
			if got := Image(tt.component); got != tt.want {
				t.Errorf("Image(%q) = %q, want %q", tt.component, got, tt.want)
			}
		})
	}
}
