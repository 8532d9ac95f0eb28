package peertest

import "syscall"

// sysProcAttr kills the peer when the test process dies, so an
// interrupted test run leaves no peers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
