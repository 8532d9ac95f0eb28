package topology

import (
	"os"
	"strings"
)

// Default image names: the official ones, which `make images` builds
// locally when they cannot be pulled (scripts/images-thirdparty.sh uses the
// same defaults).
const (
	DefaultNATSImage     = "nats:2.15"
	DefaultRedisImage    = "redis:7"
	DefaultPostgresImage = "postgres:15"
)

// Image returns the image to run for component ("nats", "redis",
// "postgres" or a service name): CATGA_IMAGE_<COMPONENT> when set, else the
// default (catga/<service> for a service, as `make images` tags them).
func Image(component string) string {
	if v := strings.TrimSpace(os.Getenv("CATGA_IMAGE_" + strings.ToUpper(component))); v != "" {
		return v
	}
	switch component {
	case "nats":
		return DefaultNATSImage
	case "redis":
		return DefaultRedisImage
	case "postgres":
		return DefaultPostgresImage
	default:
		return "catga/" + component
	}
}
