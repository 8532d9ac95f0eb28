package loopback

import (
	"net"
	"strings"
	"testing"
)

func TestHostIsLoopbackAndUsable(t *testing.T) {
	h := Host()
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		t.Fatalf("Host() = %q, want a loopback address", h)
	}
	ports, err := Ports(h, 3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || !Free(h, p) {
			t.Fatalf("Ports(%q, 3) = %v: duplicate or not free", h, ports)
		}
		seen[p] = true
	}
	if h != "127.0.0.1" && Host() == h && Host() == h {
		t.Fatalf("Host() keeps returning %q; want a fresh address per cluster", h)
	}
	if strings.Count(h, ".") != 3 {
		t.Fatalf("Host() = %q", h)
	}
}
