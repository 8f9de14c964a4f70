//go:build linux

package sandbox

import "syscall"

// setParentDeathSignal makes the kernel send SIGQUIT (PostgreSQL's
// "immediate shutdown") to the postmaster if the thread that started it
// dies, so a crashed or timed-out test binary does not leave a server
// running. The starting goroutine keeps its OS thread locked for the
// server's lifetime, see startServerProcess.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGQUIT
}
