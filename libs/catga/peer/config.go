package peer

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/catga-go/catga/libs/catga/transport"
)

// Config is what one peer needs to join the platform.
type Config struct {
	// Service is the service this peer belongs to, e.g. "order". Peers of one
	// service share its queue groups and durable consumers.
	Service string
	// Version is announced through discovery.
	Version string
	// NATSURLs are the NATS servers to connect to; all of them, so the
	// client can move to another node when one dies.
	NATSURLs []string
}

// Environment variables read by [ConfigFromEnv].
const (
	EnvNATSURL = "CATGA_NATS_URL" // comma-separated list of nats:// URLs
	EnvVersion = "CATGA_VERSION"
)

// ConfigFromEnv builds the configuration of a peer of service from the
// environment. Call Validate on the result.
func ConfigFromEnv(service string) Config {
	cfg := Config{Service: service, Version: os.Getenv(EnvVersion)}
	if cfg.Version == "" {
		cfg.Version = "0.0.0-dev"
	}
	for _, u := range strings.Split(os.Getenv(EnvNATSURL), ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.NATSURLs = append(cfg.NATSURLs, u)
		}
	}
	return cfg
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Service == "" {
		errs = append(errs, errors.New("service name is empty"))
	} else if err := transport.ValidateServiceName(c.Service); err != nil {
		errs = append(errs, err)
	}
	if len(c.NATSURLs) == 0 {
		errs = append(errs, fmt.Errorf("no NATS server: set %s (e.g. nats://127.0.0.1:4222)", EnvNATSURL))
	}
	for _, u := range c.NATSURLs {
		if !strings.Contains(u, "://") {
			errs = append(errs, fmt.Errorf("%s: %q is not a URL (want nats://host:port)", EnvNATSURL, u))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("catga: invalid peer config: %w", err)
	}
	return nil
}
