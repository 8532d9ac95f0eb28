package main

import "syscall"

// sysProcAttr puts a child (a peer, the -then program) in a process group
// of its own, so that Ctrl-C at the terminal reaches catga-dev alone, which
// then stops the peers in order with one SIGTERM each (a second signal
// would make a peer give up its graceful shutdown); and it sends the child
// SIGTERM if catga-dev dies, so no peer is left behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
