package pgembed

import "syscall"

// sysProcAttr kills the server when the starting thread's process dies, so
// a crashed test run does not leak a postgres.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
