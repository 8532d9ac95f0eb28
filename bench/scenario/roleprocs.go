package scenario

import (
	"fmt"
	"os"
	"time"
)

// StartRole starts this program's own binary as a bench-only process of
// role, named name, against the nats-server at natsURL, with env added.
func StartRole(role, name, natsURL string, env ...string) (*Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := startProc(name, self, append([]string{EnvRole + "=" + role, EnvName + "=" + name, EnvNATS + "=" + natsURL}, env...))
	if err != nil {
		return nil, err
	}
	if err := p.awaitReady(20 * time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// startResponders starts n responders with the given per-peer limit and wait.
func startResponders(n int, natsURL string, conc int, wait time.Duration, tag string) ([]*Proc, error) {
	var out []*Proc
	for i := range n {
		p, err := StartRole(RoleResponder, fmt.Sprintf("%s-%d", tag, i+1), natsURL,
			fmt.Sprintf("%s=%d", EnvConcurrency, conc), fmt.Sprintf("%s=%s", EnvWait, wait))
		if err != nil {
			stopAll(out)
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func stopAll(ps []*Proc) {
	for _, p := range ps {
		_ = p.Stop(10 * time.Second)
	}
}

func killAll(ps []*Proc) {
	for _, p := range ps {
		p.Kill()
	}
}
