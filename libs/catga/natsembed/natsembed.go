// Package natsembed runs a nats-server inside the current process. It is the
// embedded default that lets the platform run with no external server, and
// the way tests get real NATS servers (single nodes or clusters) on free
// loopback ports.
package natsembed

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config describes one embedded server. The zero value is a standalone
// server with JetStream on a random loopback port, storing in a temporary
// directory that Shutdown removes.
type Config struct {
	Host        string // default 127.0.0.1
	Port        int    // 0 picks a free port
	Name        string // server name, shown in logs and cluster routes
	StoreDir    string // JetStream storage; empty means a fresh temp dir
	NoJetStream bool

	// Cluster, when ClusterName is set, makes the server a cluster member
	// listening for routes on ClusterPort and dialling Routes.
	ClusterName string
	ClusterPort int
	Routes      []string // nats-route://host:port of the other members

	ReadyTimeout time.Duration // default 10s
}

// Server is a running embedded nats-server.
type Server struct {
	*server.Server
	tempDir string
}

// Start starts a server and waits until it accepts clients.
func Start(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = server.RANDOM_PORT
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	s := &Server{}
	if cfg.StoreDir == "" && !cfg.NoJetStream {
		dir, err := os.MkdirTemp("", "catga-nats-*")
		if err != nil {
			return nil, fmt.Errorf("catga: natsembed: jetstream dir: %w", err)
		}
		cfg.StoreDir, s.tempDir = dir, dir
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  !cfg.NoJetStream,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
	}
	if cfg.ClusterName != "" {
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: cfg.Host, Port: cfg.ClusterPort}
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("catga: natsembed: %w", err)
	}
	s.Server = ns
	go ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		s.cleanup()
		return nil, errors.New("catga: natsembed: server not ready for connections within " + cfg.ReadyTimeout.String())
	}
	return s, nil
}

// Shutdown stops the server, waits for it, and removes a temporary store.
func (s *Server) Shutdown() {
	s.Server.Shutdown()
	s.WaitForShutdown()
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}
