//go:build !linux

package natstransport_test

import "syscall"

// peerSysProcAttr: no parent-death signal outside Linux; t.Cleanup kills
// the peer.
func peerSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
