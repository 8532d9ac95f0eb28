package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// EnvRequire, set to 1 (as `make e2e` does), turns a missing Docker
// Engine into a failure instead of a skip.
const EnvRequire = "CATGA_E2E"

// requireDocker fails or skips t (see [unavailable]) when no Docker
// Engine answers.
func requireDocker(t testing.TB, ctx context.Context) {
	t.Helper()
	if err := dockerHealth(ctx); err != nil {
		unavailable(t, fmt.Sprintf("no Docker Engine answers (%v): the container topology cannot start; start Docker", err))
	}
}

// unavailable fails t when CATGA_E2E=1 (`make e2e`), else skips it,
// also printing why to stderr.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "e2e: " + why
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	// go test shows a passing package's output only with -v; stderr is the
	// best this package can do to make the skip seen under `make test`.
	fmt.Fprintln(os.Stderr, "SKIPPED "+t.Name()+": "+msg)
	t.Skip(msg)
}

func dockerHealth(ctx context.Context) (err error) {
	defer func() {
		// testcontainers panics when it finds no Docker host at all.
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err
}

// requireImages reports every image missing locally, naming `make images`.
func requireImages(ctx context.Context, images []string) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	var missing []string
	for _, img := range images {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		return errors.New("images missing (run `make images`; names come from CATGA_IMAGE_*): " + strings.Join(missing, ", "))
	}
	return nil
}
