//go:build unix && !linux

package cli

import "syscall"

// setNice gives the process the nice value n (nice(1)'s scale, 0 to 19).
func setNice(n int) error { return syscall.Setpriority(syscall.PRIO_PROCESS, 0, n) }
