package peer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/peer"
)

func TestConfigValidate(t *testing.T) {
	valid := peer.Config{Service: "order", NATSURLs: []string{"nats://127.0.0.1:4222"}}.WithDefaults()
	tests := []struct {
		name string
		edit func(c *peer.Config)
		want []string // substrings of the error; none means valid
	}{
		{"valid", func(*peer.Config) {}, nil},
		{"missing everything", func(c *peer.Config) { *c = peer.Config{} },
			[]string{"service name is empty", "no NATS server: set CATGA_NATS_URL", "no event store: set CATGA_DATABASE_URL or CATGA_SQLITE_PATH"}},
		{"bad service name", func(c *peer.Config) { c.Service = "or.der" }, []string{`service name "or.der"`}},
		// The transport's rule: the peer once took names Serve then refused.
		{"service name Serve refuses", func(c *peer.Config) { c.Service = "or:der" }, []string{`service name "or:der"`}},
		{"not a url", func(c *peer.Config) { c.NATSURLs = []string{"localhost:4222"} }, []string{`CATGA_NATS_URL: "localhost:4222" is not a URL`}},
		{"bad url with a password", func(c *peer.Config) { c.NATSURLs = []string{"nats://order:secret@h:4222", "order:secret@h:4222"} },
			[]string{`CATGA_NATS_URL: "xxxxx@h:4222" is not a URL`}},
		{"bad redis address", func(c *peer.Config) { c.RedisAddrs = []string{"redis1"} }, []string{`CATGA_REDIS_ADDRS: "redis1" is not host:port`}},
		{"not postgres", func(c *peer.Config) { c.DatabaseURL = "mysql://u:secret@h/db" }, []string{"CATGA_DATABASE_URL: not a postgres:// URL"}},
		{"bad http address", func(c *peer.Config) { c.HTTPAddr = "8080" }, []string{`CATGA_HTTP_ADDR: "8080" is not [host]:port`}},
		{"bad version", func(c *peer.Config) { c.Version = "latest" }, []string{`CATGA_VERSION: "latest" is not a semantic version`}},
		{"too many replicas", func(c *peer.Config) { c.NATSReplicas = 6 }, []string{"CATGA_NATS_REPLICAS: 6 is not a number of replicas from 1 to 5"}},
		{"negative replicas", func(c *peer.Config) { c.NATSReplicas = -1 }, []string{"CATGA_NATS_REPLICAS: -1 is not"}},
		{"negative timeout", func(c *peer.Config) { c.ShutdownTimeout = -time.Second }, []string{"CATGA_SHUTDOWN_TIMEOUT: negative"}},
		{"redis user and password", func(c *peer.Config) {
			c.RedisAddrs, c.RedisUsername, c.RedisPassword = []string{"r:6379"}, "order", "secret"
		}, nil},
		{"redis password alone", func(c *peer.Config) { c.RedisAddrs, c.RedisPassword = []string{"r:6379"}, "secret" }, nil},
		{"redis user without password", func(c *peer.Config) { c.RedisAddrs, c.RedisUsername = []string{"r:6379"}, "order" },
			[]string{"CATGA_REDIS_USERNAME: set with no CATGA_REDIS_PASSWORD"}},
		{"redis credentials without redis", func(c *peer.Config) { c.RedisUsername, c.RedisPassword = "order", "secret" },
			[]string{"CATGA_REDIS_USERNAME/CATGA_REDIS_PASSWORD: set with no CATGA_REDIS_ADDRS"}},
		{"console read-only", func(c *peer.Config) { c.Console = peer.ConsoleReadOnly }, nil},
		{"console unknown", func(c *peer.Config) { c.Console = "yes" }, []string{`CATGA_CONSOLE: "yes" is not on, read-only or off`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	vars := []string{peer.EnvNATSURL, peer.EnvRedisAddrs, peer.EnvDatabaseURL, peer.EnvSQLitePath, peer.EnvHTTPAddr,
		peer.EnvShutdownTimeout, peer.EnvVersion, peer.EnvConsole, peer.EnvNATSReplicas, peer.EnvTestHandlerDelay, peer.EnvDrainDelay,
		peer.EnvRedisUsername, peer.EnvRedisPassword}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(c peer.Config) bool
		wantErr []string
	}{
		{"defaults", map[string]string{peer.EnvNATSURL: "nats://a:1"}, func(c peer.Config) bool {
			return c.HTTPAddr == ":8080" && c.ShutdownTimeout == 20*time.Second && c.SQLitePath == "data/payment.db" &&
				c.DatabaseURL == "" && len(c.RedisAddrs) == 0 && c.Version == "0.0.0-dev" && c.Service == "payment" &&
				c.Console == peer.ConsoleOn && c.NATSReplicas == 1 &&
				c.TestHandlerDelay == 0 && c.DrainDelay == time.Second
		}, nil},
		{"console off", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvConsole: " OFF "}, func(c peer.Config) bool {
			return c.Console == peer.ConsoleOff
		}, nil},
		{"lists", map[string]string{peer.EnvNATSURL: " nats://a:1, nats://b:2 ,", peer.EnvRedisAddrs: "r1:6379,r2:6379"}, func(c peer.Config) bool {
			return strings.Join(c.NATSURLs, "|") == "nats://a:1|nats://b:2" && strings.Join(c.RedisAddrs, "|") == "r1:6379|r2:6379"
		}, nil},
		{"everything set", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvDatabaseURL: "postgres://u@h/db",
			peer.EnvHTTPAddr: "127.0.0.1:9000", peer.EnvShutdownTimeout: "5s", peer.EnvVersion: "1.2.3", peer.EnvNATSReplicas: " 3 "}, func(c peer.Config) bool {
			return c.DatabaseURL == "postgres://u@h/db" && c.SQLitePath == "" && c.HTTPAddr == "127.0.0.1:9000" &&
				c.ShutdownTimeout == 5*time.Second && c.Version == "1.2.3" && c.NATSReplicas == 3
		}, nil},
		{"every problem at once", map[string]string{peer.EnvShutdownTimeout: "soon", peer.EnvHTTPAddr: "nowhere"}, nil,
			[]string{"CATGA_SHUTDOWN_TIMEOUT", "CATGA_NATS_URL", "CATGA_HTTP_ADDR"}},
		{"test handler delay", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvTestHandlerDelay: "300ms"}, func(c peer.Config) bool {
			return c.TestHandlerDelay == 300*time.Millisecond
		}, nil},
		{"drain delay", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvDrainDelay: "0s"}, func(c peer.Config) bool {
			return c.DrainDelay == 0
		}, nil},
		{"bad drain delay", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvDrainDelay: "soon"}, nil,
			[]string{"CATGA_DRAIN_DELAY"}},
		{"bad test handler delay", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvTestHandlerDelay: "-1s"}, nil,
			[]string{"CATGA_TEST_HANDLER_DELAY"}},
		{"replicas not a number", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvNATSReplicas: "three"}, nil,
			[]string{`CATGA_NATS_REPLICAS: "three" is not a number of replicas from 1 to 5`}},
		{"zero replicas", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvNATSReplicas: "0"}, nil,
			[]string{`CATGA_NATS_REPLICAS: "0" is not`}},
		{"six replicas", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvNATSReplicas: "6"}, nil,
			[]string{`CATGA_NATS_REPLICAS: "6" is not`}},
		{"zero timeout", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvShutdownTimeout: "0s"}, nil,
			[]string{"CATGA_SHUTDOWN_TIMEOUT: 0s must be positive"}},
		{"redis credentials", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvRedisAddrs: "r:6379",
			peer.EnvRedisUsername: " payment ", peer.EnvRedisPassword: " p w "}, func(c peer.Config) bool {
			return c.RedisUsername == "payment" && c.RedisPassword == " p w "
		}, nil},
		{"redis user without password", map[string]string{peer.EnvNATSURL: "nats://a:1", peer.EnvRedisAddrs: "r:6379",
			peer.EnvRedisUsername: "payment"}, nil, []string{"CATGA_REDIS_USERNAME: set with no CATGA_REDIS_PASSWORD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range vars {
				t.Setenv(v, tt.env[v])
			}
			c, err := peer.ConfigFromEnv("payment")
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ConfigFromEnv = %v", err)
				}
				if !tt.want(c) {
					t.Fatalf("ConfigFromEnv = %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("ConfigFromEnv = %+v, want an error", c)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
