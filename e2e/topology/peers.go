package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Kill sends SIGKILL to p's container (`docker kill`): the peer dies
// wherever it is, with no graceful shutdown.
func (topo *Topology) Kill(ctx context.Context, p *Peer) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerKill(ctx, p.Container.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	return nil
}

// Restart starts p's container again, with the same configuration, and
// waits until it answers /readyz. Its host port changes: read p.URL again.
func (topo *Topology) Restart(ctx context.Context, p *Peer) error {
	if err := p.Container.Start(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", p.Name, err)
	}
	if err := topo.waitHTTP(ctx, p.Container, "8080/tcp", "/readyz", 2*time.Minute); err != nil {
		return fmt.Errorf("restart %s: not ready: %w%s", p.Name, err, logTail(p.Container))
	}
	endpoint, err := topo.endpoint(ctx, p.Container, "8080/tcp")
	if err != nil {
		return err
	}
	p.setURL(endpoint)
	return nil
}
