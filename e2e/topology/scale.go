package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Stop sends SIGTERM to p's container (what an orchestrator does at a
// scale-down) and waits up to timeout for the peer to exit, as it does once
// its graceful shutdown ends. It returns the peer's exit code: 0 after a
// clean shutdown.
func (topo *Topology) Stop(ctx context.Context, p *Peer, timeout time.Duration) (int, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerKill(ctx, p.Container.GetContainerID(), client.ContainerKillOptions{Signal: "TERM"}); err != nil {
		return 0, fmt.Errorf("SIGTERM %s: %w", p.Name, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		st, err := p.Container.State(ctx)
		if err != nil {
			return 0, fmt.Errorf("stop %s: state: %w", p.Name, err)
		}
		if !st.Running {
			return st.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("stop %s: still running %s after SIGTERM%s", p.Name, timeout, logTail(p.Container))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HandlerDelay is the environment that makes a peer's served requests
// slow: each waits d before its handler runs and d after it returns (the
// chassis' CATGA_TEST_HANDLER_DELAY fault), so a test can kill the peer
// while a saga step is in its handler. Pass it in [Options.Env].
func HandlerDelay(d time.Duration) map[string]string {
	return map[string]string{"CATGA_TEST_HANDLER_DELAY": d.String()}
}
