package natstransport_test

import "syscall"

// peerSysProcAttr makes the kernel SIGKILL a peer process when the test
// process dies, so an aborted run does not leak a responder.
func peerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
