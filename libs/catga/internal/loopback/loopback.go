// Package loopback hands out addresses for servers that tests start and kill.
//
// Each cluster a test starts gets its own random address in 127.0.0.0/8.
// Two problems go away with that, both seen as clients that never recovered
// after a node was killed:
//   - another test process (go test -p 2) can no longer pick the dead node's
//     freed port for a server of its own cluster, which the old cluster's
//     clients and nodes would then reach;
//   - a client redialling a dead local port can no longer connect to itself
//     (TCP simultaneous open, when the kernel picks the dead port as the
//     ephemeral source port), because its source address is 127.0.0.1 and
//     the destination is not.
//
// On systems where only 127.0.0.1 is configured (macOS), Host falls back to it.
package loopback

import (
	"fmt"
	"math/rand/v2"
	"net"
)

// Host returns a fresh loopback address for one cluster of servers.
func Host() string {
	for range 8 {
		h := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(253))
		if l, err := net.Listen("tcp", net.JoinHostPort(h, "0")); err == nil {
			_ = l.Close()
			return h
		}
	}
	return "127.0.0.1"
}

// Free reports whether port is free on host.
func Free(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// Ports returns n distinct ports that are free on host, by listening on them
// together and then releasing them for the servers to take.
func Ports(host string, n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("catga: free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
