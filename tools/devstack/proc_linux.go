package main

import "syscall"

// On Linux the kernel also terminates the children if devstack itself dies
// without cleaning up (SIGKILL), so no orphan keeps the ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
