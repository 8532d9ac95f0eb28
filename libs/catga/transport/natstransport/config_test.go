package natstransport

import (
	"errors"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"minimal", Config{URLs: []string{"nats://127.0.0.1:4222"}}, false},
		{"no urls", Config{}, true},
		{"negative duration", Config{URLs: []string{"x"}, PingInterval: -time.Second}, true},
		{"negative replicas", Config{URLs: []string{"x"}, Replicas: -1}, true},
		{"semantic version", Config{URLs: []string{"x"}, Version: "1.4.2-rc.1"}, false},
		{"version micro refuses", Config{URLs: []string{"x"}, Version: "latest"}, true},
		{"negative MaxAge", Config{URLs: []string{"x"}, MaxAge: -time.Hour}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, transport.ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{URLs: []string{"x"}}
	c.defaults()
	// A silently dead server is left at the latest MaxPingsOut+1 intervals
	// after it died; with the reconnect, clients must be back within 1 s.
	if c.PingInterval*time.Duration(c.MaxPingsOut+1) > 750*time.Millisecond || c.ReconnectWait > 250*time.Millisecond {
		t.Errorf("defaults too slow to leave a dead server: ping %s x %d, reconnect wait %s", c.PingInterval, c.MaxPingsOut, c.ReconnectWait)
	}
}
