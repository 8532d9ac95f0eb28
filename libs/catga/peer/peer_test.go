package peer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/catga/transport"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  peer.Config
		want []string // substrings of the error; none means valid
	}{
		{"valid", peer.Config{Service: "order", NATSURLs: []string{"nats://127.0.0.1:4222"}}, nil},
		{"missing everything", peer.Config{}, []string{"service name is empty", "no NATS server: set CATGA_NATS_URL"}},
		{"bad service name", peer.Config{Service: "or.der", NATSURLs: []string{"nats://x:1"}}, []string{`service name "or.der"`}},
		// The transport's rule: the peer once took names Serve then refused.
		{"service name Serve refuses", peer.Config{Service: "or:der", NATSURLs: []string{"nats://x:1"}}, []string{`service name "or:der"`}},
		{"not a url", peer.Config{Service: "order", NATSURLs: []string{"localhost:4222"}}, []string{`"localhost:4222" is not a URL`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
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
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(peer.EnvNATSURL, " nats://a:1, nats://b:2 ,")
	cfg := peer.ConfigFromEnv("payment")
	if strings.Join(cfg.NATSURLs, "|") != "nats://a:1|nats://b:2" || cfg.Service != "payment" {
		t.Fatalf("ConfigFromEnv = %+v", cfg)
	}
}

func TestRunAnnouncesThePeerAndShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv, err := natsembed.Start(natsembed.Config{NoJetStream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- peer.Run(ctx, peer.Config{Service: "order", Version: "1.2.3", NATSURLs: []string{srv.ClientURL()}},
			func(_ context.Context, p *peer.Peer) error {
				echo := func(_ context.Context, m *transport.Msg) *transport.Msg { return &transport.Msg{Data: m.Data} }
				_, err := p.Transport.Serve("order.echo", "order_echo", echo, transport.ServeConfig{Endpoint: "echo"})
				close(ready)
				return err
			})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("setup not called within 10s")
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var info micro.Info
	deadline := time.Now().Add(5 * time.Second)
	for info.Name == "" && time.Now().Before(deadline) {
		if msg, err := nc.Request("$SRV.INFO.order", nil, time.Second); err == nil {
			_ = json.Unmarshal(msg.Data, &info)
		}
	}
	if info.Name != "order" || info.Version != "1.2.3" || len(info.Endpoints) != 1 {
		t.Fatalf("discovery INFO = %+v, want the order peer with its echo endpoint", info)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancellation")
	}
	if _, err := nc.Request("$SRV.PING.order", nil, 200*time.Millisecond); err == nil {
		t.Fatal("the stopped peer still answers discovery pings")
	}
}

func TestRunRejectsInvalidConfigBeforeConnecting(t *testing.T) {
	err := peer.Run(context.Background(), peer.Config{Service: "order"}, func(context.Context, *peer.Peer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "CATGA_NATS_URL") {
		t.Fatalf("Run = %v, want the missing NATS URL named", err)
	}
}
