//go:build !linux

package peertest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
