//go:build unix && !linux

package main

import "syscall"

// sysProcAttr puts a child in a process group of its own: see the Linux
// version (which also stops the child when catga-dev dies).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
