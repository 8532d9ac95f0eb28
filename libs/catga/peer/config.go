package peer

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Config is what one peer needs to join the platform. [ConfigFromEnv] reads
// it from the environment; tests build it directly. Zero values of the
// optional fields take the defaults listed with the variables below.
type Config struct {
	// Service is the service this peer belongs to, e.g. "order". Peers of one
	// service share its queue groups, durable consumers, event store and
	// saga store.
	Service string
	// Version is announced through discovery and on telemetry; a semantic
	// version.
	Version string
	// NATSURLs are the NATS servers to connect to; all of them, so the
	// client can move to another node when one dies.
	NATSURLs []string
	// RedisAddrs hold the saga store: none means NATS JetStream KV; one
	// address a single Redis node; several a Redis Cluster (seed nodes).
	RedisAddrs []string
	// RedisUsername and RedisPassword authenticate to Redis (AUTH, or an
	// ACL user when RedisUsername is set). A username needs a password:
	// an ACL user without one is a misconfiguration, not an open door.
	RedisUsername string
	RedisPassword string
	// DatabaseURL, when set (postgres://...), holds the event store in
	// PostgreSQL, in the schema named after the service. Empty means a
	// SQLite file at SQLitePath.
	DatabaseURL string
	// SQLitePath is the SQLite event store file when DatabaseURL is empty.
	// Peers of one service on one machine share it (WAL mode).
	SQLitePath string
	// HTTPAddr is where the peer serves HTTP: the service's handlers and
	// /healthz, /readyz and /metrics.
	HTTPAddr string
	// NATSReplicas is how many copies JetStream keeps of every stream and
	// key-value bucket the peer creates (the event stream, the
	// idempotency bucket, the NATS KV saga store): 1 to 5, at most the
	// number of nodes of the cluster; 3 on a 3-node cluster survives the
	// loss of one. Zero means 1. Streams and buckets that already exist
	// are left as they are (see natstransport's ensureStream).
	NATSReplicas int
	// ShutdownTimeout bounds the whole graceful shutdown: requests in
	// flight get up to 2/5 of it, the NATS drain 2/5, and the saga
	// hand-off and telemetry flush the rest.
	ShutdownTimeout time.Duration
	// DrainDelay is how long a stopping peer keeps serving HTTP with its
	// readiness (/readyz) already answering 503, so that load balancers
	// polling it take the peer out before its listener closes: requests
	// then never meet a closed port. Set it above the balancers' probe
	// interval. It is bounded by half of the HTTP part of ShutdownTimeout
	// (1/5 of it). Zero means none; [ConfigFromEnv] defaults it to
	// [DefaultDrainDelay].
	DrainDelay time.Duration
	// TestHandlerDelay is fault injection for end-to-end tests, zero (off)
	// in production: every request the peer serves over NATS waits this
	// long before its handler runs and again after it returns, before the
	// reply leaves, so a test can kill the peer mid-step, before or after
	// the step's effect committed (see [DelayRequests]).
	TestHandlerDelay time.Duration
	// Console is the saga console on the peer's HTTP server (PathConsole),
	// served when the service registered sagas: ConsoleOn (the default),
	// ConsoleReadOnly (no operator actions) or ConsoleOff. It is an
	// operator surface with no login: see package console.
	Console string
}

// Console settings.
const (
	ConsoleOn       = "on"
	ConsoleReadOnly = "read-only"
	ConsoleOff      = "off"
)

// Environment variables read by [ConfigFromEnv]. The OpenTelemetry SDK
// reads the standard OTEL_* variables itself (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, ...).
const (
	EnvNATSURL         = "CATGA_NATS_URL"         // comma-separated nats:// URLs; required
	EnvNATSReplicas    = "CATGA_NATS_REPLICAS"    // JetStream replicas of the streams and buckets the peer creates, 1-5; default 1
	EnvRedisAddrs      = "CATGA_REDIS_ADDRS"      // comma-separated host:port; empty: saga store in NATS KV
	EnvRedisUsername   = "CATGA_REDIS_USERNAME"   // Redis ACL user; empty: the default user
	EnvRedisPassword   = "CATGA_REDIS_PASSWORD"   // Redis password; required with CATGA_REDIS_USERNAME
	EnvDatabaseURL     = "CATGA_DATABASE_URL"     // postgres://...; empty: SQLite
	EnvSQLitePath      = "CATGA_SQLITE_PATH"      // default data/<service>.db
	EnvHTTPAddr        = "CATGA_HTTP_ADDR"        // default :8080
	EnvShutdownTimeout = "CATGA_SHUTDOWN_TIMEOUT" // Go duration, default 20s
	EnvVersion         = "CATGA_VERSION"          // semantic version, default 0.0.0-dev
	EnvLogLevel        = "CATGA_LOG_LEVEL"        // debug, info, warn or error; default info
	// EnvDrainDelay (Go duration, default 1s): see Config.DrainDelay.
	EnvDrainDelay = "CATGA_DRAIN_DELAY"
	// EnvTestHandlerDelay (Go duration) is for end-to-end tests only: see
	// Config.TestHandlerDelay. Unset in production.
	EnvTestHandlerDelay = "CATGA_TEST_HANDLER_DELAY"
	EnvConsole          = "CATGA_CONSOLE" // on, read-only or off; default on
)

// Defaults of the optional settings.
const (
	DefaultHTTPAddr        = ":8080"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultVersion         = "0.0.0-dev"
	DefaultDrainDelay      = time.Second
	DefaultNATSReplicas    = 1
	// MaxNATSReplicas is JetStream's limit on a stream's replicas.
	MaxNATSReplicas = 5
)

// ConfigFromEnv builds and validates the configuration of a peer of
// service from the environment. The error names every variable that is
// missing or malformed, so one failed start shows all of them.
func ConfigFromEnv(service string) (Config, error) {
	cfg := Config{
		Service:     service,
		Version:     strings.TrimSpace(os.Getenv(EnvVersion)),
		NATSURLs:    splitList(os.Getenv(EnvNATSURL)),
		RedisAddrs:  splitList(os.Getenv(EnvRedisAddrs)),
		DatabaseURL: strings.TrimSpace(os.Getenv(EnvDatabaseURL)),
		SQLitePath:  strings.TrimSpace(os.Getenv(EnvSQLitePath)),
		HTTPAddr:    strings.TrimSpace(os.Getenv(EnvHTTPAddr)),
		Console:     strings.ToLower(strings.TrimSpace(os.Getenv(EnvConsole))),
	}
	// The password is not trimmed: it may hold any byte.
	cfg.RedisUsername, cfg.RedisPassword = strings.TrimSpace(os.Getenv(EnvRedisUsername)), os.Getenv(EnvRedisPassword)
	var errs []error
	if v := strings.TrimSpace(os.Getenv(EnvShutdownTimeout)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration (want e.g. 20s)", EnvShutdownTimeout, v))
		} else if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s must be positive", EnvShutdownTimeout, v))
		} else {
			cfg.ShutdownTimeout = d
		}
	}
	cfg.DrainDelay = DefaultDrainDelay
	if v := strings.TrimSpace(os.Getenv(EnvDrainDelay)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a non-negative duration (want e.g. 1s)", EnvDrainDelay, v))
		} else {
			cfg.DrainDelay = d
		}
	}
	if v := strings.TrimSpace(os.Getenv(EnvTestHandlerDelay)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a non-negative duration (want e.g. 300ms)", EnvTestHandlerDelay, v))
		} else {
			cfg.TestHandlerDelay = d
		}
	}
	if v := strings.TrimSpace(os.Getenv(EnvNATSReplicas)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxNATSReplicas {
			errs = append(errs, fmt.Errorf("%s: %q is not a number of replicas from 1 to %d", EnvNATSReplicas, v, MaxNATSReplicas))
		} else {
			cfg.NATSReplicas = n
		}
	}
	cfg = cfg.WithDefaults()
	if err := errors.Join(append(errs, cfg.problems()...)...); err != nil {
		return cfg, fmt.Errorf("catga: %s: invalid configuration: %w", service, err)
	}
	return cfg, nil
}

// WithDefaults returns c with every empty optional setting at its default.
func (c Config) WithDefaults() Config {
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.NATSReplicas == 0 {
		c.NATSReplicas = DefaultNATSReplicas
	}
	if c.Console == "" {
		c.Console = ConsoleOn
	}
	if c.SQLitePath == "" && c.DatabaseURL == "" && c.Service != "" {
		c.SQLitePath = filepath.Join("data", c.Service+".db")
	}
	return c
}

// Validate reports every problem with the configuration at once, each
// naming the environment variable that sets it. Run it on a config with
// defaults applied ([Config.WithDefaults]).
func (c Config) Validate() error {
	if err := errors.Join(c.problems()...); err != nil {
		return fmt.Errorf("catga: invalid peer config: %w", err)
	}
	return nil
}

// problems lists what is wrong with c.
func (c Config) problems() []error {
	var errs []error
	if c.Service == "" {
		errs = append(errs, errors.New("service name is empty"))
	} else if err := transport.ValidateServiceName(c.Service); err != nil {
		errs = append(errs, err)
	}
	if c.Version != "" && !natstransport.ValidVersion(c.Version) {
		errs = append(errs, fmt.Errorf("%s: %q is not a semantic version (want e.g. 1.4.2)", EnvVersion, c.Version))
	}
	if len(c.NATSURLs) == 0 {
		errs = append(errs, fmt.Errorf("no NATS server: set %s (e.g. nats://127.0.0.1:4222)", EnvNATSURL))
	}
	for _, u := range c.NATSURLs {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not a URL (want nats://host:port)", EnvNATSURL, redactURL(u)))
		}
	}
	if c.NATSReplicas < 0 || c.NATSReplicas > MaxNATSReplicas {
		errs = append(errs, fmt.Errorf("%s: %d is not a number of replicas from 1 to %d", EnvNATSReplicas, c.NATSReplicas, MaxNATSReplicas))
	}
	for _, a := range c.RedisAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", EnvRedisAddrs, a))
		}
	}
	if c.RedisUsername != "" && c.RedisPassword == "" {
		errs = append(errs, fmt.Errorf("%s: set with no %s", EnvRedisUsername, EnvRedisPassword))
	}
	if (c.RedisUsername != "" || c.RedisPassword != "") && len(c.RedisAddrs) == 0 {
		errs = append(errs, fmt.Errorf("%s/%s: set with no %s", EnvRedisUsername, EnvRedisPassword, EnvRedisAddrs))
	}
	if c.DatabaseURL != "" {
		if p, err := url.Parse(c.DatabaseURL); err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
			// The URL may hold a password: do not echo it.
			errs = append(errs, fmt.Errorf("%s: not a postgres:// URL", EnvDatabaseURL))
		}
	} else if c.SQLitePath == "" {
		errs = append(errs, fmt.Errorf("no event store: set %s or %s", EnvDatabaseURL, EnvSQLitePath))
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not [host]:port", EnvHTTPAddr, c.HTTPAddr))
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s: negative", EnvShutdownTimeout))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, fmt.Errorf("%s: negative", EnvDrainDelay))
	}
	if c.TestHandlerDelay < 0 {
		errs = append(errs, fmt.Errorf("%s: negative", EnvTestHandlerDelay))
	}
	switch c.Console {
	case "", ConsoleOn, ConsoleReadOnly, ConsoleOff:
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not %s, %s or %s", EnvConsole, c.Console, ConsoleOn, ConsoleReadOnly, ConsoleOff))
	}
	return errs
}

// redactURL is u fit for a log: a password in it (nats://user:pw@host,
// as deploy/compose.yaml passes NATS credentials) replaced by "xxxxx";
// all before the last "@" when u is not a URL with user information.
func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		return p.Redacted()
	}
	if i := strings.LastIndex(u, "@"); i >= 0 {
		return "xxxxx" + u[i:]
	}
	return u
}

// redactURLs is [redactURL] of each.
func redactURLs(us []string) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = redactURL(u)
	}
	return out
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
